"""A /v1 client of the local stack, as a script would be: a fresh credential of one cell, then HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from bulk_import.domain.credentials import ApiPermission
from bulk_import.logic.admin import create_api_credential
from tests.support.waiting import TIMEOUT


def native_client(local_stack: Any, cell: str) -> Callable[..., requests.Response]:
    """`call(method, path, **requests' options)` of /v1/cells/<cell><path>, with a reader and
    writer's credential."""
    token = create_api_credential(local_stack.store, cell, [ApiPermission.READ, ApiPermission.WRITE]).token
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    base = f"{local_stack.api_url}/v1/cells/{cell}"

    def call(method: str, path: str = "", **options: Any) -> requests.Response:
        return session.request(method, base + path, timeout=TIMEOUT, **options)

    return call

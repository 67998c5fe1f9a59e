"""Waiting on the local stack, which runs imports in threads of its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# moto copies the whole table for every item of a transaction, so writes slow down as the shared
# local stack fills up; generous timeouts keep a loaded CI machine from failing on that alone.
TIMEOUT = 120


def wait_until(predicate: Callable[[], T], seconds: float = 300) -> T:
    """The predicate's first truthy answer, polled; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return value

"""A local stack (moto server + the template's routes) on ephemeral ports, shared by this folder."""

import os

import pytest

from bulk_import_cli import demo
from bulk_import_local.local_stack import LocalStack, clear_cached_clients


@pytest.fixture(scope="package")
def local_stack():
    saved = dict(os.environ)
    clear_cached_clients()
    with LocalStack(moto_port=0, api_port=0) as stack:
        demo.seed_demo(stack.store, stack.template.parameters["RocketChatCell"])
        yield stack
    clear_cached_clients()
    os.environ.clear()
    os.environ.update(saved)

"""The local stack, started again in one process: `make test` shares the tests among processes
(pytest-xdist), and a process may start tests/local's stack, leave the folder, and start it again."""

import os

from bulk_import_local.local_stack import LocalStack, clear_cached_clients


def test_a_stack_started_after_another_in_the_same_process_starts_empty():
    saved = dict(os.environ)
    try:
        with LocalStack(moto_port=0, api_port=0) as first:
            first.store.client.put_item(TableName=os.environ["TABLE_NAME"], Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
        with LocalStack(moto_port=0, api_port=0) as second:
            assert second.store.client.scan(TableName=os.environ["TABLE_NAME"])["Items"] == []
    finally:
        clear_cached_clients()
        os.environ.clear()
        os.environ.update(saved)

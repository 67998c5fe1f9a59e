"""BatchExecuteStatement's INSERTs, as DynamoDB runs them, for the local stack and the tests.

moto runs PartiQL by listing every item of every table for each statement (a batch of 25 INSERTs
read the whole table 25 times), fails on a Map parameter, and its INSERT writes over an item that
exists. DynamoDB's INSERT fails on an existing item with a DuplicateItem error, statement by
statement in a batch. Here a batch of INSERTs of the worker's form (partiql.py) runs each as
moto's put with the condition that the key does not exist, through the same backend method as a
PutItem (so moto_transactions, moto_streams and moto_footprint see it); any other batch goes to
moto as before. This is moto's internal API (pinned in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import ConditionalCheckFailed
from moto.dynamodb.models import DynamoDBBackend

from bulk_import_local.partiql import parsed_insert

DUPLICATE_ITEM = {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}


def install() -> Callable[[], None]:
    """Patches moto's DynamoDB backends in this process; returns the undo."""
    original = DynamoDBBackend.batch_execute_statement

    def batch_execute_statement(self: DynamoDBBackend, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        inserts = [parsed_insert(statement) for statement in statements]
        if not statements or None in inserts:
            return original(self, statements)
        return [_insert(self, table_name, item) for table_name, item in inserts]  # type: ignore[misc]

    DynamoDBBackend.batch_execute_statement = batch_execute_statement  # type: ignore[method-assign]

    def undo() -> None:
        DynamoDBBackend.batch_execute_statement = original  # type: ignore[method-assign]

    return undo


def _insert(backend: DynamoDBBackend, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    table = backend.tables.get(table_name)
    if table is None:
        return {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}}
    try:
        backend.put_item(
            table_name,
            item,
            condition_expression="attribute_not_exists(#key)",
            expression_attribute_names={"#key": table.hash_key_attr},
        )
    except ConditionalCheckFailed:
        return {"TableName": table_name, "Error": dict(DUPLICATE_ITEM)}
    return {"TableName": table_name}

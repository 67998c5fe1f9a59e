"""Makes moto's DynamoDB TransactWriteItems fit for the local stack.

moto backs a transaction up by deep-copying the *whole table once per item*, and on failure puts
that copy back, which also undoes what other threads wrote meanwhile. With the worker's one
transaction per batch, that made local imports slow down as the table grew and lose counts when
batches ran concurrently. Here, transactions run one at a time and back up only the items they
touch. Every other write (put, update, delete, and so each item of a batch write) waits for a
running transaction too: on AWS no write lands between a transaction's condition checks and its
writes, while moto lets a plain UpdateItem in there. This is moto's internal API (pinned in
pyproject.toml); tests/local/test_local_stack.py fails loudly if it moves.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

# Reentrant: moto's transaction applies its items through the same put/update/delete methods.
_WRITES = threading.RLock()
_SINGLE_ITEM_WRITES = ("put_item", "update_item", "delete_item")


def _item_key(table: Table, operation: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    attributes = operation.get("Key") or operation["Item"]
    range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return DynamoType(attributes[table.hash_key_attr]), range_key


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any, Any]]:
    saved = []
    for transact_item in transact_items:
        (operation,) = transact_item.values()
        table = backend.tables.get(operation.get("TableName"))
        if table is None:
            continue
        hash_key, range_key = _item_key(table, operation)
        current = table.items.get(hash_key, {}).get(range_key) if table.has_range_key else table.items.get(hash_key)
        saved.append((table, hash_key, range_key, copy.deepcopy(current)))
    return saved


def _restore(saved: list[tuple[Table, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if table.has_range_key:
            if item is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item


def install() -> Callable[[], None]:
    """Patches moto's DynamoDB backend in this process; returns the undo."""
    backend_class = dynamodb_models.DynamoDBBackend
    original_transaction, original_copy = backend_class.transact_write_items, dynamodb_models.copy
    original_writes = {name: getattr(backend_class, name) for name in _SINGLE_ITEM_WRITES}

    def serialized(write: Callable[..., Any]) -> Callable[..., Any]:
        def write_after_any_transaction(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _WRITES:
                return write(self, *args, **kwargs)

        return write_after_any_transaction

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _WRITES:
            saved = _snapshot(self, transact_items)
            try:
                return original_transaction(self, transact_items)
            except Exception:
                _restore(saved)
                raise

    # moto's own backup becomes a no-op for tables (its "restore" then puts back the same table
    # object); every other deepcopy in that module (of single items) stays a real one.
    dynamodb_models.copy = SimpleNamespace(
        deepcopy=lambda value, memo=None: value if isinstance(value, Table) else copy.deepcopy(value, memo)
    )
    backend_class.transact_write_items = transact_write_items
    for name, write in original_writes.items():
        setattr(backend_class, name, serialized(write))

    def undo() -> None:
        backend_class.transact_write_items = original_transaction
        for name, write in original_writes.items():
            setattr(backend_class, name, write)
        dynamodb_models.copy = original_copy

    return undo

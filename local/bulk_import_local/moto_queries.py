"""Makes moto's DynamoDB Query fit for the local stack.

moto answers every Query by listing and sorting *every item of the table* and keeping the partition
asked for: each batch's one Query then costs the size of the table, so a local import slowed down
as it went (quadratic: the 100,000-user run of docs/benchmarks.md), and a Query failed with
"dictionary changed size during iteration" when another thread added an item meanwhile. Here a
Query of the table reads only its partition, and a Query of an index reads a snapshot of the items
that have the index's key attributes, the items a global secondary index holds (moto would look at
every item's attributes, unpacking every item moto_footprint.py keeps packed). moto's internal API
(pinned in pyproject.toml); tests/local/test_local_stack.py fails loudly if it moves.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from moto.dynamodb.models.table import Table

from bulk_import_local.moto_footprint import attribute_names

#: What the current Query reads: (table, partition key) for a Query of a table, (table, the index's
#: key attribute names) for a Query of an index; None for anything else.
_PARTITION: ContextVar[tuple[Table, Any] | None] = ContextVar("partition", default=None)
_INDEX = object()


def install() -> Callable[[], None]:
    """Patches moto's DynamoDB tables in this process; returns the undo."""
    original_query, original_all_items = Table.query, Table.all_items
    signature = inspect.signature(original_query)

    @functools.wraps(original_query)
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        index_name = arguments.get("index_name")
        if index_name:
            index = {index.name: index for index in self.all_indexes()}.get(index_name)
            keys = None if index is None else frozenset(key["AttributeName"] for key in index.schema)
            token = _PARTITION.set(None if keys is None else (self, (_INDEX, keys)))  # (moto refuses an unknown one)
        else:
            token = _PARTITION.set((self, arguments["hash_key"]))
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _PARTITION.reset(token)

    def all_items(self: Table) -> list[Any]:
        wanted = _PARTITION.get()
        index_keys = None
        if wanted and wanted[0] is self and isinstance(wanted[1], tuple) and wanted[1][0] is _INDEX:
            index_keys, partitions = wanted[1][1], list(self.items.values())
        elif wanted and wanted[0] is self:
            partitions = [self.items.get(wanted[1])]
        else:
            partitions = list(self.items.values())
        items = []
        for partition in partitions:
            if partition is None:
                continue
            items.extend(list(partition.values()) if self.range_key_attr else [partition])
        if index_keys is not None:  # in the index: the items that have its key attributes
            items = [item for item in items if index_keys.issubset(attribute_names(item))]
        # moto's own order, which its Query relies on
        return sorted(items, key=lambda item: (item.hash_key, item.range_key) if item.range_key else item.hash_key)

    Table.query, Table.all_items = query, all_items

    def undo() -> None:
        Table.query, Table.all_items = original_query, original_all_items

    return undo

"""Makes moto's DynamoDB Query fit for the local stack.

moto answers every Query by listing and sorting *every item of the table* and keeping the partition
asked for: each batch's one Query then costs the size of the table, so a local import slowed down
as it went (quadratic: the 100,000-user run of docs/benchmarks.md), and a Query failed with
"dictionary changed size during iteration" when another thread added an item meanwhile. Here a
Query of the table reads only its partition, and a Query of an index (which must look at every
item) reads a snapshot. moto's internal API (pinned in pyproject.toml);
tests/local/test_local_stack.py fails loudly if it moves.
"""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from typing import Any, Callable

from moto.dynamodb.models.table import Table

#: The (table, partition key) the current Query of a table reads; None for anything else.
_PARTITION: ContextVar[tuple[Table, Any] | None] = ContextVar("partition", default=None)


def install() -> Callable[[], None]:
    """Patches moto's DynamoDB tables in this process; returns the undo."""
    original_query, original_all_items = Table.query, Table.all_items
    signature = inspect.signature(original_query)

    @functools.wraps(original_query)
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        token = _PARTITION.set(None if arguments.get("index_name") else (self, arguments["hash_key"]))
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _PARTITION.reset(token)

    def all_items(self: Table) -> list[Any]:
        wanted = _PARTITION.get()
        partitions = [self.items.get(wanted[1])] if wanted and wanted[0] is self else list(self.items.values())
        items = []
        for partition in partitions:
            if partition is None:
                continue
            items.extend(list(partition.values()) if self.range_key_attr else [partition])
        # moto's own order, which its Query relies on
        return sorted(items, key=lambda item: (item.hash_key, item.range_key) if item.range_key else item.hash_key)

    Table.query, Table.all_items = query, all_items

    def undo() -> None:
        Table.query, Table.all_items = original_query, original_all_items

    return undo

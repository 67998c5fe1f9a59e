"""Makes moto's DynamoDB stream -> Lambda delivery behave like AWS's for the local stack.

moto calls a stream's functions on every write, with every record not yet delivered, and ignores the
event source mapping's FilterCriteria. So two concurrent writes could each deliver both records
(the same import event twice), the events function ran for every staged record, and a transaction
that failed on a later item had already streamed its earlier ones. Here stream records are added
one write at a time, a transaction's only once it has succeeded, and a function gets only the
records its mapping's filter matches (nothing at all when none do), as on AWS. moto's internal API
(pinned in pyproject.toml); tests/local/test_local_stack.py fails loudly if it moves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard

_STREAM = threading.Lock()
#: The stream records of the transaction running in this context, held until it succeeds.
_HELD: ContextVar[list[tuple[StreamShard, Any, Any]] | None] = ContextVar("held", default=None)


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style matching, the part Lambda filters use here: nested fields, and at the
    leaves a list of exact values or {"prefix": ...}."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            name in value and matches(part, value[name]) for name, part in pattern.items()
        )
    return any(
        rule == value
        or (isinstance(rule, dict) and isinstance(value, str) and value.startswith(rule.get("prefix", "\0")))
        for rule in pattern
    )


def install() -> Callable[[], None]:
    """Patches moto in this process; returns the undo."""
    original_add, original_send = StreamShard.add, LambdaBackend.send_dynamodb_items
    original_transaction = DynamoDBBackend.transact_write_items

    def add(self: StreamShard, old: Any, new: Any) -> None:
        held = _HELD.get()
        if held is not None:
            held.append((self, old, new))
            return
        with _STREAM:
            original_add(self, old, new)

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        held: list[tuple[StreamShard, Any, Any]] = []
        token = _HELD.set(held)
        try:
            result = original_transaction(self, transact_items)
        finally:
            _HELD.reset(token)
        for shard, old, new in held:  # only once it succeeded: a failed one streams nothing
            add(shard, old, new)
        return result

    def send_dynamodb_items(self: LambdaBackend, function_arn: str, items: list[Any], source: str) -> Any:
        mapping = next(
            (
                esm
                for esm in self._event_source_mappings.values()
                if esm.function_arn == function_arn and esm.event_source_arn == source
            ),
            None,
        )
        filters = [json.loads(f["Pattern"]) for f in ((mapping and mapping.filter_criteria) or {}).get("Filters", [])]
        if filters:
            items = [item for item in items if any(matches(f, item.to_json()) for f in filters)]
        if not items:
            return b"{}"  # delivered nothing, as a filter that drops everything does; moto clears them
        return original_send(self, function_arn, items, source)

    StreamShard.add = add
    LambdaBackend.send_dynamodb_items = send_dynamodb_items
    DynamoDBBackend.transact_write_items = transact_write_items

    def undo() -> None:
        StreamShard.add = original_add
        LambdaBackend.send_dynamodb_items = original_send
        DynamoDBBackend.transact_write_items = original_transaction

    return undo

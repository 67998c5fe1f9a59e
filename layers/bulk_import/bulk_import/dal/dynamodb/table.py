"""The table's requests: retried under contention, (de)serialised, paged. What each item is and
where it lives is in the modules beside this one (operations, records, credentials)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from bulk_import.concurrency import THREAD_NAME_PREFIX, map_all

_BATCH_GET_LIMIT = 100
#: Errors DynamoDB answers under contention or load; the request (always idempotent here: a
#: conditional write, a marker-guarded transaction or a read) is sent again after a jittered wait.
_RETRYABLE_ERRORS = frozenset(
    {
        "TransactionConflictException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
#: The BatchStatementError codes of a statement worth sending again.
_RETRYABLE_STATEMENT_ERRORS = _RETRYABLE_REASONS | {"RequestLimitExceeded", "InternalServerError"}
_ATTEMPTS = 10
_BACKOFF_BASE, _BACKOFF_CAP = 0.025, 2.0
# Created once per process: starting threads per call cost more than the requests they sped up.
REQUESTS = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"{THREAD_NAME_PREFIX}store")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next_key` is where the next page starts (None after the last)."""

    items: list[T]
    next_key: dict[str, Any] | None


class Table:
    """One DynamoDB table: the requests every kind of item is read and written with."""

    def __init__(self, table_name: str, client: Any, retention: timedelta = timedelta(days=90)) -> None:
        self.table_name = table_name
        self.client = client
        #: How long finished operations and their records are kept (then DynamoDB's TTL deletes them).
        self.retention = retention

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """One DynamoDB request, sent again after a jittered, growing wait while DynamoDB answers
        with contention or throttling: botocore retries throttling a few times but never a
        transaction canceled by a conflict, and a hot import meets both. Every request sent here
        is safe to repeat (a read, a conditional write, or a transaction guarded by a marker)."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return getattr(self.client, operation)(**arguments)
            except ClientError as exc:
                if attempt == _ATTEMPTS or not _retryable(exc):
                    raise
            _back_off(attempt)
        raise AssertionError("unreachable")

    def _execute_statements(self, statements: list[dict[str, Any]]) -> list[dict[str, str] | None]:
        """One BatchExecuteStatement (25 statements at most): each statement's error (its Code and
        Message), None where it succeeded. DynamoDB answers each statement on its own, so the ones
        it refused for contention or throttling are sent again, alone, after a wait, as _call does
        for whole requests; after the last attempt their error is returned."""
        errors: list[dict[str, str] | None] = [None] * len(statements)
        pending = list(range(len(statements)))
        for attempt in range(1, _ATTEMPTS + 1):
            response = self._call("batch_execute_statement", Statements=[statements[index] for index in pending])
            for index, answer in zip(pending, response["Responses"], strict=True):
                errors[index] = answer.get("Error")
            pending = [index for index in pending if (errors[index] or {}).get("Code") in _RETRYABLE_STATEMENT_ERRORS]
            if not pending or attempt == _ATTEMPTS:
                break
            _back_off(attempt)
        return errors

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[tuple[str, ...], dict[str, Any]]:
        """One BatchGetItem per 100 keys (its limit); another only for the UnprocessedKeys DynamoDB
        returns (throttling)."""
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request = {
                self.table_name: {
                    "Keys": [marshal(key) for key in keys[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while request:
                if attempt:
                    _back_off(attempt)
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response["Responses"].get(self.table_name, []):
                    item = unmarshal(raw)
                    found[(item["PK"], item["SK"])] = item
                request = response.get("UnprocessedKeys") or {}
                attempt += 1
        return found

    def _page(
        self,
        arguments: dict[str, Any],
        limit: int,
        start_key: dict[str, Any] | None,
        parse: Callable[[dict[str, Any]], T],
    ) -> Page[T]:
        """Queries until `limit` items are found or the results end; a filter may need several."""
        items: list[T] = []
        key = start_key
        while True:
            request = arguments | {"Limit": limit - len(items)}
            if key:
                request["ExclusiveStartKey"] = marshal(key)
            response = self._call("query", **request)
            items += [parse(unmarshal(raw)) for raw in response["Items"]]
            key = unmarshal(response["LastEvaluatedKey"]) if "LastEvaluatedKey" in response else None
            if key is None or len(items) >= limit:
                return Page(items=items, next_key=key)

    def _transact_update(
        self, key: dict[str, str], expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        """A TransactWriteItems update of an operation's item."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": marshal(key),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": marshal(values),
            }
        }

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem, 25 requests each, several at once (the client is thread-safe); items
        DynamoDB leaves unprocessed (throttling) are sent again."""

        def write(chunk: list[dict[str, Any]]) -> None:
            pending, attempt = {self.table_name: chunk}, 0
            while pending:
                if attempt:
                    _back_off(attempt)  # unprocessed items mean throttling: sending at once adds to it
                pending = self._call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}
                attempt += 1

        map_all(REQUESTS, write, [requests[start : start + 25] for start in range(0, len(requests), 25)])


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def optional_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _retryable(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionCanceledException":
        reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])} - {"None", None}
        return bool(reasons) and reasons <= _RETRYABLE_REASONS
    return code in _RETRYABLE_ERRORS


def _back_off(attempt: int) -> None:
    """Full jitter (AWS's advice for contention): a random wait up to base * 2^attempt, capped."""
    time.sleep(random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt)))


def _storable(value: Any) -> Any:
    """JSON values as DynamoDB takes them: floats become Decimals (boto3 refuses floats)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {name: _storable(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def plain(value: Any) -> Any:
    """DynamoDB values back as JSON values: numbers become ints, or floats when not whole."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {name: plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def marshal(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(_storable(value)) for name, value in values.items()}


def unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}

"""The table's requests: retried where botocore does not, within the invocation's deadline,
(de)serialised, paged. What each item is and where it lives is in the modules beside this one
(the *_items modules).

One retry layer (the arithmetic is in bulk_import.domain.deadline): botocore retries throttling, 5xx
and connection errors, and a throttle it gave up on is the table being unavailable for now
(StoreUnavailable), not something to send again; the store retries only what botocore does not
(transaction conflicts, statements refused one by one, unprocessed items and keys), a few times,
and never past the deadline, botocore's own retries included."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from bulk_import.concurrency import THREAD_NAME_PREFIX, map_all
from bulk_import.dal.dynamodb.attributes import ExpressionNames
from bulk_import.domain.deadline import STORE_ATTEMPTS, botocore_wait_bound, current_deadline
from bulk_import.domain.errors import StoreUnavailable

_BATCH_GET_LIMIT = 100
#: What botocore retries (throttling, 5xx): when one reaches the store, botocore gave up on it (its
#: attempts or the deadline ran out), and sending it again would only add to a throttled table's load.
_UNAVAILABLE_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
#: What botocore never retries and the store does, after a jittered wait (every request is safe to
#: repeat here: a read, a conditional write, or a transaction guarded by a marker): a write that met
#: a transaction on its item, and a transaction canceled only for these reasons.
_CONFLICT_ERRORS = frozenset({"TransactionConflictException"})
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
#: The BatchStatementError codes of a statement worth sending again.
_RETRYABLE_STATEMENT_ERRORS = _RETRYABLE_REASONS | {"RequestLimitExceeded", "InternalServerError"}
_BACKOFF_BASE, _BACKOFF_CAP = 0.025, 2.0
_DEADLINE_HOOK = "bulk-import-deadline"
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
        #: The longest one HTTP attempt of the client takes (its connect and read timeouts).
        self.attempt_seconds = float(client.meta.config.connect_timeout) + float(client.meta.config.read_timeout)
        _bound_botocore_retries(client, self.attempt_seconds)

    def _send(self, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """One request, with botocore's retries (throttling, 5xx, connection errors). Sent only if an
        attempt can end by the deadline; StoreUnavailable when it cannot, or when botocore gave up."""
        deadline = current_deadline()
        if deadline is not None and not deadline.allows(self.attempt_seconds):
            raise StoreUnavailable(f"{operation}: no time left for a request")
        try:
            return getattr(self.client, operation)(**arguments)
        except ClientError as exc:
            if _error_code(exc) in _UNAVAILABLE_ERRORS or _status(exc) >= 500:
                raise StoreUnavailable(f"{operation}: {_error_code(exc)}") from exc
            raise
        except (BotocoreConnectionError, HTTPClientError) as exc:  # timeouts, connections: botocore retried them
            raise StoreUnavailable(f"{operation}: {type(exc).__name__}") from exc

    def delete_if(self, key: dict[str, str], attribute: StrEnum, value: Any) -> None:
        """Deletes the item at `key` if its `attribute` is `value`; leaves it alone otherwise."""
        names = ExpressionNames()
        try:
            self._call(
                "delete_item",
                TableName=self.table_name,
                Key=marshal(key),
                ConditionExpression=f"{names(attribute)} = :expected",
                ExpressionAttributeNames=names.names,
                ExpressionAttributeValues=marshal({":expected": value}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _update_if(
        self, key: dict[str, str], expression: str, condition: str, names: ExpressionNames, values: dict[str, Any]
    ) -> bool:
        """One conditional UpdateItem; False if its condition failed (nothing written)."""
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=marshal(key),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names.names,
                ExpressionAttributeValues=marshal(values),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """One DynamoDB request, sent again after a jittered, growing wait while DynamoDB answers with a
        transaction conflict (botocore never retries a transaction canceled by one, and a hot import
        meets them), at most STORE_ATTEMPTS times and never past the deadline."""
        sends = _Sends(self, operation)
        while True:
            try:
                return sends.send(arguments)
            except ClientError as exc:
                if not _conflict(exc):
                    raise
                sends.wait_to_send_again(_error_code(exc))

    def _execute_statements(self, statements: list[dict[str, Any]]) -> list[dict[str, str] | None]:
        """One BatchExecuteStatement (25 statements at most): each statement's error (its Code and
        Message), None where it succeeded. DynamoDB answers each statement on its own, and botocore
        sees a success: the ones it refused for contention or throttling are sent again, alone, after
        a wait, as _call does for whole requests (StoreUnavailable if some are still refused then)."""
        errors: list[dict[str, str] | None] = [None] * len(statements)
        pending = list(range(len(statements)))
        sends = _Sends(self, "batch_execute_statement")
        while True:
            response = sends.send({"Statements": [statements[index] for index in pending]})
            for index, answer in zip(pending, response["Responses"], strict=True):
                errors[index] = answer.get("Error")
            pending = [index for index in pending if (errors[index] or {}).get("Code") in _RETRYABLE_STATEMENT_ERRORS]
            if not pending:
                return errors
            sends.wait_to_send_again(f"{len(pending)} statements refused ({(errors[pending[0]] or {}).get('Code')})")

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[tuple[str, ...], dict[str, Any]]:
        """One BatchGetItem per 100 keys (its limit); another only for the UnprocessedKeys DynamoDB
        returns (throttling), after a wait."""
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [marshal(key) for key in keys[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            sends = _Sends(self, "batch_get_item")
            while True:
                response = sends.send({"RequestItems": request})
                for raw in response["Responses"].get(self.table_name, []):
                    item = unmarshal(raw)
                    found[(item["PK"], item["SK"])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                sends.wait_to_send_again(f"{len(request[self.table_name]['Keys'])} keys unprocessed")
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
        DynamoDB leaves unprocessed (throttling) are sent again after a wait, not at once."""

        def write(chunk: list[dict[str, Any]]) -> None:
            pending: dict[str, Any] = {self.table_name: chunk}
            sends = _Sends(self, "batch_write_item")
            while True:
                pending = sends.send({"RequestItems": pending}).get("UnprocessedItems") or {}
                if not pending:
                    return
                sends.wait_to_send_again(f"{len(pending[self.table_name])} items unprocessed")

        map_all(REQUESTS, write, [requests[start : start + 25] for start in range(0, len(requests), 25)])


class _Sends:
    """The store's own sends of one request: at most STORE_ATTEMPTS, each after a jittered, growing
    wait, and only while the wait and one attempt fit before the deadline."""

    def __init__(self, table: Table, operation: str) -> None:
        self.table, self.operation, self.sent = table, operation, 0

    def send(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self.sent += 1
        return self.table._send(self.operation, arguments)

    def wait_to_send_again(self, why: str) -> None:
        """Full jitter (AWS's advice for contention): a random wait up to base * 2^sends, capped;
        StoreUnavailable instead when no send may follow."""
        if self.sent >= STORE_ATTEMPTS:
            raise StoreUnavailable(f"{self.operation}: {why}, {self.sent} times")
        wait = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**self.sent))
        deadline = current_deadline()
        if deadline is not None and not deadline.allows(wait + self.table.attempt_seconds):
            raise StoreUnavailable(f"{self.operation}: {why}; no time left to send it again")
        time.sleep(wait)


def _bound_botocore_retries(client: Any, attempt_seconds: float) -> None:
    """Vetoes a retry of botocore's that could not end by the deadline: its wait (at most
    botocore_wait_bound) and the attempt. Registered before botocore's own retry handler, on the
    needs-retry event, whose first answer other than None decides (False: no retry)."""

    def retry_in_time(attempts: int, response: Any = None, **_: Any) -> bool | None:
        deadline = current_deadline()
        if deadline is None:
            return None
        retry_after = response is not None and "x-amz-retry-after" in response[0].headers
        return None if deadline.allows(botocore_wait_bound(attempts, retry_after) + attempt_seconds) else False

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{service}", retry_in_time, unique_id=_DEADLINE_HOOK)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def optional_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code"))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _conflict(error: ClientError) -> bool:
    code = _error_code(error)
    if code == "TransactionCanceledException":
        reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])} - {"None", None}
        return bool(reasons) and reasons <= _RETRYABLE_REASONS
    return code in _CONFLICT_ERRORS


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

"""DynamoDB single-table storage. Knows items and keys; knows nothing of HTTP or dialects.

Key schema (docs/data-model.md):

| item                         | PK                 | SK                  |
|------------------------------|--------------------|---------------------|
| cell                         | CELL#<cell>        | CELL                |
| the cell's latest operation  | CELL#<cell>        | IMPORT#~latest      |
| an earlier operation         | CELL#<cell>        | IMPORT#<operation id>  (ids sort by time) |
| Rocket.Chat user credential  | CELL#<cell>        | RCUSER#<user id>    |
| Personium cell token         | TOKEN#<sha256>     | TOKEN               |
| staged record                | STAGE#<op>#<type>#<batch> | <seq, 10 digits> |
| batch counted marker         | STAGE#<op>#<type>#<batch> | ~counted         |
| imported user                | USER#<cell>#<username>    | USER             |
| imported channel             | CHANNEL#<cell>#<name>     | CHANNEL          |
| imported message             | MESSAGE#<cell>#<channel>#<ts>#<op>#<seq> | MESSAGE |
| /v1 API credential           | TOKEN#<sha256>     | API                 |

Two sparse global secondary indexes:
- `ActiveOperations` (activeShard, startedAt; keys only): only operations that are loading or
  importing carry `activeShard`, so the stalled-import sweeper finds just those (then reads them);
- `FailedRecords` (failedOf, failedKey): only staged records that failed carry `failedOf` (their
  operation id and a shard, `<op>#<batch % 8>`), so an operation's errors are 8 Queries merged in
  type and line order, and a failing import spreads its index writes over 8 partitions.

A batch's `~counted` marker holds its outcome (which records failed, and why): the marker, not an
index, is what counts, settles and retries read, always with strongly consistent reads.

Finished operations, staged records and batch markers carry `expiresAt` (the table's TTL).

The latest operation sits at a fixed key so that a status read is one BatchGetItem of fixed keys
(credential, cell, latest operation). Starting an operation moves the previous latest one to
`IMPORT#<id>` in the same transaction, so each operation is stored in exactly one place, and
`~` sorts after every hex id, so a descending Query lists the latest first.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any, Generic, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from bulk_import.concurrency import map_all
from bulk_import.credentials import ApiCredential, ApiPermission, CellToken, Permission, RocketChatUser
from bulk_import.model import (
    ACTIVE_STEPS,
    FINISHED_STEPS,
    Counts,
    Failure,
    ImportOperation,
    ImportState,
    ProgressMark,
    ProgressStep,
    steps_in_state,
    utc_now,
)
from bulk_import.settings import get_settings
from bulk_import.staged_records import StagedRecord

LATEST = "IMPORT#~latest"
ACTIVE_INDEX = "ActiveOperations"
FAILED_INDEX = "FailedRecords"
_ACTIVE_SHARD = "ACTIVE"
#: Staged records expire this long after the retention period counted from staging, so that the
#: errors of an import that runs for up to this long outlive its operation record.
STAGING_GRACE = timedelta(days=30)
#: Record types in the order they are imported; the failed-records index sorts by it.
_TYPE_ORDER = {"user": 0, "channel": 1, "message": 2}
_BATCH_GET_LIMIT = 100
#: The FailedRecords index's partitions per operation: a hot import writes its errors to 8 keys.
FAILED_SHARDS = 8
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
_ATTEMPTS = 10
_BACKOFF_BASE, _BACKOFF_CAP = 0.025, 2.0
# Created once per process: starting threads per call cost more than the requests they sped up.
_REQUESTS = ThreadPoolExecutor(max_workers=8)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class OperationConflict(Exception):
    """A conditional write lost: another operation is active, or the latest one changed meanwhile."""


class BatchCount(Enum):
    """What recording a batch's counts did."""

    COUNTED = "counted"
    ALREADY_COUNTED = "already counted"  # a retry of a batch whose counts were recorded before
    STOPPED = "stopped"  # the operation is no longer in this batch's phase (canceled, cleared, failed)


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch did, as its marker records it: how many records it imported, and each
    record that it did not import, by seq, with the error code and message."""

    completed: int
    failed: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def error(self) -> int:
        return len(self.failed)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next_key` is where the next page starts (None after the last)."""

    items: list[T]
    next_key: dict[str, Any] | None


def cell_key(cell: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": "CELL"}


def latest_operation_key(cell: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": LATEST}


def earlier_operation_key(cell: str, operation_id: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": f"IMPORT#{operation_id}"}


def rocketchat_user_key(cell: str, user_id: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": f"RCUSER#{user_id}"}


def cell_token_key(token_hash: str) -> dict[str, str]:
    return {"PK": f"TOKEN#{token_hash}", "SK": "TOKEN"}


def _staged_partition(operation_id: str, record_type: str, batch: int) -> str:
    # One partition per batch: a batch is one Query, and staging 10M records spreads over 200k keys.
    return f"STAGE#{operation_id}#{record_type}#{batch:08d}"


def staged_record_key(operation_id: str, record: StagedRecord) -> dict[str, str]:
    return {"PK": _staged_partition(operation_id, record.type, record.batch), "SK": f"{record.seq:010d}"}


def batch_marker_key(operation_id: str, record_type: str, batch: int) -> dict[str, str]:
    return {"PK": _staged_partition(operation_id, record_type, batch), "SK": "~counted"}


def failed_shard(operation_id: str, batch: int) -> str:
    return f"{operation_id}#{batch % FAILED_SHARDS}"


def api_credential_key(token_hash: str) -> dict[str, str]:
    return {"PK": f"TOKEN#{token_hash}", "SK": "API"}


def directory_key(cell: str, kind: str, identity: str) -> dict[str, str]:
    """Where an imported user, channel or message lives; identity is unique per cell and kind."""
    return {"PK": f"{kind.upper()}#{cell}#{identity}", "SK": kind.upper()}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _optional_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def operation_to_item(operation: ImportOperation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": operation.id,
        "cell": operation.cell,
        "type": operation.type,
        "importerKey": operation.importer_key,
        "step": operation.step.value,
        "valid": operation.valid,
        "startedAt": operation.started_at.isoformat(),
        "updatedAt": operation.updated_at.isoformat(),
        "user": operation.user,
        "count": asdict(operation.count),
    }
    if operation.is_active:
        item["activeShard"] = _ACTIVE_SHARD
    for name, moment in (
        ("heartbeatAt", operation.heartbeat_at),
        ("finishedAt", operation.finished_at),
        ("markAt", operation.mark.at if operation.mark is not None else None),
        ("previousMarkAt", operation.previous_mark.at if operation.previous_mark is not None else None),
    ):
        if moment is not None:
            item[name] = moment.isoformat()
    if operation.mark is not None:
        item["markProcessed"] = operation.mark.processed
    if operation.previous_mark is not None:
        item["previousMarkProcessed"] = operation.previous_mark.processed
    if operation.expires_at is not None:
        item["expiresAt"] = _epoch(operation.expires_at)
    if operation.parent_id is not None:
        item["parentId"] = operation.parent_id
    if operation.importation_name is not None:
        item["importationName"] = operation.importation_name
    if operation.failure is not None:
        item["failure"] = asdict(operation.failure)
    if operation.source_key is not None:
        item["sourceKey"] = operation.source_key
    if operation.execution_arn is not None:
        item["executionArn"] = operation.execution_arn
    if operation.source_etag is not None:
        item["sourceETag"] = operation.source_etag
    if operation.stage_cursor is not None:
        item["stageCursor"] = operation.stage_cursor
    if operation.reconcile_pending:
        item["reconcilePending"] = True
    return item


def operation_from_item(item: dict[str, Any]) -> ImportOperation:
    return ImportOperation(
        id=item["id"],
        cell=item["cell"],
        type=item["type"],
        importer_key=item["importerKey"],
        importation_name=item.get("importationName"),
        step=ProgressStep(item["step"]),
        valid=item["valid"],
        started_at=datetime.fromisoformat(item["startedAt"]),
        updated_at=datetime.fromisoformat(item["updatedAt"]),
        user=item["user"],
        count=Counts(**{name: int(value) for name, value in item["count"].items()}),
        failure=Failure(**item["failure"]) if "failure" in item else None,
        source_key=item.get("sourceKey"),
        execution_arn=item.get("executionArn"),
        source_etag=item.get("sourceETag"),
        stage_cursor=_plain(item["stageCursor"]) if "stageCursor" in item else None,
        reconcile_pending=item.get("reconcilePending", False),
        parent_id=item.get("parentId"),
        heartbeat_at=_optional_time(item.get("heartbeatAt")),
        finished_at=_optional_time(item.get("finishedAt")),
        expires_at=_from_epoch(item["expiresAt"]) if "expiresAt" in item else None,
        mark=_mark(item, "markAt", "markProcessed"),
        previous_mark=_mark(item, "previousMarkAt", "previousMarkProcessed"),
    )


def _mark(item: dict[str, Any], at: str, processed: str) -> ProgressMark | None:
    if at not in item:
        return None
    return ProgressMark(at=datetime.fromisoformat(item[at]), processed=int(item[processed]))


def cell_token_to_item(token: CellToken) -> dict[str, Any]:
    return {
        "cell": token.cell,
        "root": token.root,
        "subject": token.subject,
        "expiresAt": _epoch(token.expires_at),  # also the table's TTL attribute
        "cookiePeerHash": token.cookie_peer_hash,
    }


def cell_token_from_item(token_hash: str, item: dict[str, Any]) -> CellToken:
    return CellToken(
        token_hash=token_hash,
        cell=item["cell"],
        root=item["root"],
        subject=item["subject"],
        expires_at=_from_epoch(item["expiresAt"]),
        cookie_peer_hash=item["cookiePeerHash"],
    )


def api_credential_to_item(credential: ApiCredential) -> dict[str, Any]:
    return {
        "cell": credential.cell,
        "permissions": sorted(credential.permissions),
        "name": credential.name,
        "expiresAt": _epoch(credential.expires_at),
    }


def api_credential_from_item(token_hash: str, item: dict[str, Any]) -> ApiCredential:
    return ApiCredential(
        token_hash=token_hash,
        cell=item["cell"],
        permissions=frozenset(map(ApiPermission, item["permissions"])),
        name=item["name"],
        expires_at=_from_epoch(item["expiresAt"]),
    )


def rocketchat_user_to_item(user: RocketChatUser) -> dict[str, Any]:
    return {"tokenHash": user.token_hash, "permissions": sorted(user.permissions)}


def rocketchat_user_from_item(cell: str, user_id: str, item: dict[str, Any]) -> RocketChatUser:
    return RocketChatUser(
        user_id=user_id,
        cell=cell,
        token_hash=item["tokenHash"],
        permissions=frozenset(map(Permission, item["permissions"])),
    )


@dataclass(frozen=True)
class CellStatusRead:
    """Everything a Personium status read needs, fetched in one request."""

    cell_exists: bool
    token: CellToken | None
    latest: ImportOperation | None


@dataclass(frozen=True)
class OperationRead:
    """Everything a /v1 read of one operation needs, fetched in one request."""

    credential: ApiCredential | None
    operation: ImportOperation | None


@dataclass(frozen=True)
class RocketChatStatusRead:
    """Everything a Rocket.Chat status read needs, fetched in one request."""

    user: RocketChatUser | None
    latest: ImportOperation | None


class ImportStore:
    """The table, named by intent. One method, one DynamoDB request unless its docstring says otherwise."""

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

    # -- reads -----------------------------------------------------------------------------------

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[tuple[str, ...], dict[str, Any]]:
        """One BatchGetItem per 100 keys (its limit); another only for the UnprocessedKeys DynamoDB
        returns (throttling)."""
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request = {
                self.table_name: {
                    "Keys": [_marshal(key) for key in keys[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while request:
                if attempt:
                    _back_off(attempt)
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response["Responses"].get(self.table_name, []):
                    item = _unmarshal(raw)
                    found[(item["PK"], item["SK"])] = item
                request = response.get("UnprocessedKeys") or {}
                attempt += 1
        return found

    def _operation_of(
        self, cell: str, operation_id: str, extra_keys: tuple[dict[str, str], ...] = ()
    ) -> tuple[ImportOperation | None, dict[tuple[str, ...], dict[str, Any]]]:
        """One operation of the cell wherever it is stored (the latest, or earlier under its id), and
        whatever else `extra_keys` names, in one BatchGetItem."""
        found = self._batch_get([latest_operation_key(cell), earlier_operation_key(cell, operation_id), *extra_keys])
        operation = next(
            (
                operation_from_item(item)
                for (partition, _), item in found.items()
                if partition == f"CELL#{cell}" and item.get("id") == operation_id
            ),
            None,
        )
        return operation, found

    def read_cell_status(self, cell: str, token_hash: str | None) -> CellStatusRead:
        keys = [cell_key(cell), latest_operation_key(cell)]
        if token_hash is not None:
            keys.append(cell_token_key(token_hash))
        found = self._batch_get(keys)
        token_item = found.get(tuple(cell_token_key(token_hash).values())) if token_hash else None
        latest_item = found.get(tuple(latest_operation_key(cell).values()))
        return CellStatusRead(
            cell_exists=tuple(cell_key(cell).values()) in found,
            token=cell_token_from_item(token_hash, token_item) if token_hash and token_item else None,
            latest=operation_from_item(latest_item) if latest_item else None,
        )

    def read_rocketchat_status(self, cell: str, user_id: str) -> RocketChatStatusRead:
        found = self._batch_get([rocketchat_user_key(cell, user_id), latest_operation_key(cell)])
        user_item = found.get(tuple(rocketchat_user_key(cell, user_id).values()))
        latest_item = found.get(tuple(latest_operation_key(cell).values()))
        return RocketChatStatusRead(
            user=rocketchat_user_from_item(cell, user_id, user_item) if user_item else None,
            latest=operation_from_item(latest_item) if latest_item else None,
        )

    def latest_operations(self, cell: str, limit: int) -> list[ImportOperation]:
        """The cell's operations, newest first: the latest, then earlier ones by descending id."""
        return self.operations(cell, limit).items

    def operations(
        self, cell: str, limit: int, start_key: dict[str, Any] | None = None, state: ImportState | None = None
    ) -> Page[ImportOperation]:
        """A page of the cell's operations, newest first, optionally only those in `state`. One
        Query, more only while the filter leaves the page short."""
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        values: dict[str, Any] = {":pk": f"CELL#{cell}", ":prefix": "IMPORT#"}
        if state is not None:
            steps = {f":step{i}": step.value for i, step in enumerate(sorted(steps_in_state(state)))}
            # The state is derived (model.ImportOperation.state): `valid` decides first.
            in_steps = f"#step IN ({', '.join(steps)})" if steps else "attribute_not_exists(#step)"
            if state == ImportState.ERROR:
                arguments["FilterExpression"] = f"{in_steps} OR (valid = :false AND #step <> :done)"
                values |= {":false": False, ":done": ProgressStep.DONE.value}
            elif state == ImportState.DONE:
                arguments["FilterExpression"] = in_steps
            else:
                arguments["FilterExpression"] = f"{in_steps} AND valid = :true"
                values[":true"] = True
            arguments["ExpressionAttributeNames"] = {"#step": "step"}
            values |= steps
        arguments["ExpressionAttributeValues"] = _marshal(values)
        return self._page(arguments, limit, start_key, operation_from_item)

    def read_operation(self, cell: str, operation_id: str, token_hash: str) -> OperationRead:
        """A /v1 credential and one operation of the cell, wherever it is stored (one BatchGetItem)."""
        operation, found = self._operation_of(cell, operation_id, (api_credential_key(token_hash),))
        credential_item = found.get(tuple(api_credential_key(token_hash).values()))
        return OperationRead(
            credential=api_credential_from_item(token_hash, credential_item) if credential_item else None,
            operation=operation,
        )

    def operation(self, cell: str, operation_id: str) -> ImportOperation | None:
        """One operation of the cell, the latest or an earlier one (one BatchGetItem)."""
        return self._operation_of(cell, operation_id)[0]

    def batch_outcomes(self, operation_id: str, record_type: str, batches: Sequence[int]) -> dict[int, BatchOutcome]:
        """The outcome of each of `batches` that was counted (its marker; one BatchGetItem per 100)."""
        found = self._batch_get([batch_marker_key(operation_id, record_type, batch) for batch in batches])
        return {
            batch: _outcome_from_item(item)
            for batch in batches
            if (item := found.get(tuple(batch_marker_key(operation_id, record_type, batch).values())))
        }

    def own_entries(self, cell: str, entries: list[tuple[str, str, str]]) -> set[str]:
        """Of (kind, identity, reference) entries, the references whose entry exists and was created
        by that same record (one BatchGetItem per 100)."""
        found = self._batch_get([directory_key(cell, kind, identity) for kind, identity, _ in entries])
        return {
            reference
            for kind, identity, reference in entries
            if (item := found.get(tuple(directory_key(cell, kind, identity).values())))
            and item.get("importedFrom") == reference
        }

    def read_api_credential(self, token_hash: str) -> ApiCredential | None:
        found = self._batch_get([api_credential_key(token_hash)])
        item = found.get(tuple(api_credential_key(token_hash).values()))
        return api_credential_from_item(token_hash, item) if item else None

    def failed_records(
        self, operation_id: str, limit: int, start_key: dict[str, Any] | None = None
    ) -> Page[StagedRecord]:
        """A page of the records of an operation that failed, users first, in line order: one Query
        per shard of the FailedRecords index (at once), merged. The page's key is the last record's
        `failedKey`: every shard resumes after it."""
        condition, values = "failedOf = :shard", {}
        if start_key is not None:
            condition, values = condition + " AND failedKey > :after", {":after": start_key["failedKey"]}

        def shard_page(shard: int) -> tuple[list[dict[str, Any]], bool]:
            response = self._call(
                "query",
                TableName=self.table_name,
                IndexName=FAILED_INDEX,
                KeyConditionExpression=condition,
                Limit=limit,
                ExpressionAttributeValues=_marshal(values | {":shard": f"{operation_id}#{shard}"}),
            )
            return [_unmarshal(raw) for raw in response["Items"]], "LastEvaluatedKey" in response

        shards = map_all(_REQUESTS, shard_page, range(FAILED_SHARDS))
        merged = list(heapq.merge(*(items for items, _ in shards), key=lambda item: item["failedKey"]))
        page = merged[:limit]
        more = len(merged) > limit or any(truncated for _, truncated in shards)
        next_key = {"failedOf": operation_id, "failedKey": page[-1]["failedKey"]} if more and page else None
        return Page(items=[_staged_record_from_item(item) for item in page], next_key=next_key)

    def stalled_operations(self, heartbeat_before: datetime) -> list[ImportOperation]:
        """Active operations (and ended ones still to reconcile) whose last heartbeat is older than
        `heartbeat_before`, oldest first. A Query of the keys-only ActiveOperations index per page,
        then a BatchGetItem per 100."""
        keys, start = [], None
        while True:
            page = self._page(
                {
                    "TableName": self.table_name,
                    "IndexName": ACTIVE_INDEX,
                    "KeyConditionExpression": "activeShard = :active",
                    "ExpressionAttributeValues": _marshal({":active": _ACTIVE_SHARD}),
                },
                1000,
                start,
                lambda item: {"PK": item["PK"], "SK": item["SK"]},
            )
            keys += page.items
            start = page.next_key
            if start is None:
                break
        found = [operation_from_item(item) for item in self._batch_get(keys).values()]
        stalled = [
            operation
            for operation in found
            if (operation.is_active or operation.reconcile_pending) and operation.last_heartbeat < heartbeat_before
        ]
        return sorted(stalled, key=lambda operation: operation.last_heartbeat)

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
                request["ExclusiveStartKey"] = _marshal(key)
            response = self._call("query", **request)
            items += [parse(_unmarshal(raw)) for raw in response["Items"]]
            key = _unmarshal(response["LastEvaluatedKey"]) if "LastEvaluatedKey" in response else None
            if key is None or len(items) >= limit:
                return Page(items=items, next_key=key)

    # -- writes ----------------------------------------------------------------------------------

    def put_cell(self, cell: str) -> bool:
        """Creates the cell if it does not exist yet; True when this call created it."""
        try:
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=_marshal({**cell_key(cell), "cell": cell, "createdAt": utc_now().isoformat()}),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_cell_token(self, token: CellToken) -> None:
        item = {**cell_token_key(token.token_hash), **cell_token_to_item(token)}
        self._call("put_item", TableName=self.table_name, Item=_marshal(item))

    def put_api_credential(self, credential: ApiCredential) -> None:
        item = {**api_credential_key(credential.token_hash), **api_credential_to_item(credential)}
        self._call("put_item", TableName=self.table_name, Item=_marshal(item))

    def put_rocketchat_user(self, user: RocketChatUser) -> None:
        item = {**rocketchat_user_key(user.cell, user.user_id), **rocketchat_user_to_item(user)}
        self._call("put_item", TableName=self.table_name, Item=_marshal(item))

    def start_operation(self, operation: ImportOperation, previous: ImportOperation | None) -> None:
        """Makes `operation` the cell's latest, moving `previous` (the latest read before) aside.

        One transaction, conditional on the latest record being unchanged since the caller read it
        and decided it may be replaced; otherwise OperationConflict, and nothing is written.
        """
        new_latest = {
            "Put": {
                "TableName": self.table_name,
                "Item": _marshal({**latest_operation_key(operation.cell), **operation_to_item(operation)}),
            }
        }
        if previous is None:
            new_latest["Put"]["ConditionExpression"] = "attribute_not_exists(PK)"
            actions = [new_latest]
        else:
            # Optimistic: the latest must still be exactly the record the caller decided on.
            new_latest["Put"]["ConditionExpression"] = "id = :previous AND updatedAt = :previous_updated"
            new_latest["Put"]["ExpressionAttributeValues"] = _marshal(
                {":previous": previous.id, ":previous_updated": previous.updated_at.isoformat()}
            )
            archived = {**earlier_operation_key(previous.cell, previous.id), **operation_to_item(previous)}
            actions = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": _marshal(archived),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                new_latest,
            ]
        try:
            self._call("transact_write_items", TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise OperationConflict(operation.cell) from exc
            raise

    # -- the worker ------------------------------------------------------------------------------

    def latest_operation(self, cell: str) -> ImportOperation | None:
        response = self._call(
            "get_item", TableName=self.table_name, Key=_marshal(latest_operation_key(cell)), ConsistentRead=True
        )
        return operation_from_item(_unmarshal(response["Item"])) if "Item" in response else None

    def put_failed_records(self, operation_id: str, records: list[StagedRecord]) -> None:
        """Keeps records that failed, with their error, where the errors API pages them (the
        FailedRecords index): 25 per BatchWriteItem; writing one again is harmless."""
        requests = [{"PutRequest": {"Item": _marshal(self._staged_item(operation_id, record))}} for record in records]
        self._batch_write(requests)

    def api_records(self, operation_id: str, record_type: str, batch: int) -> list[StagedRecord]:
        """The records Rocket.Chat's import.addUsers staged for one batch (one Query)."""
        response = self._call(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND SK < :marker",
            ExpressionAttributeValues=_marshal(
                {":pk": _staged_partition(operation_id, record_type, batch), ":marker": "~"}
            ),
            ConsistentRead=True,
        )
        return [_staged_record_from_item(_unmarshal(raw)) for raw in response["Items"]]

    def read_batch_context(
        self, cell: str, operation_id: str, record_type: str, batch: int
    ) -> tuple[ImportOperation | None, bool, BatchOutcome | None]:
        """The operation (wherever it is stored), whether it is the cell's latest, and the batch's
        outcome if it was counted already: one BatchGetItem."""
        marker = batch_marker_key(operation_id, record_type, batch)
        operation, found = self._operation_of(cell, operation_id, (marker,))
        latest = found.get(tuple(latest_operation_key(cell).values()))
        marker_item = found.get(tuple(marker.values()))
        return (
            operation,
            bool(latest and latest.get("id") == operation_id),
            _outcome_from_item(marker_item) if marker_item else None,
        )

    def put_directory_entry(self, cell: str, kind: str, identity: str, data: dict[str, Any], reference: str) -> bool:
        """Creates an imported entry; False if it exists already, unless this same record created it."""
        item = {**directory_key(cell, kind, identity), "data": data, "importedFrom": reference}
        try:
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=_marshal(item),
                ConditionExpression="attribute_not_exists(PK) OR importedFrom = :reference",
                ExpressionAttributeValues=_marshal({":reference": reference}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_directory_entry(self, cell: str, kind: str, identity: str, reference: str) -> None:
        """Undoes put_directory_entry for an entry this record created; leaves anyone else's alone."""
        try:
            self._call(
                "delete_item",
                TableName=self.table_name,
                Key=_marshal(directory_key(cell, kind, identity)),
                ConditionExpression="importedFrom = :reference",
                ExpressionAttributeValues=_marshal({":reference": reference}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def count_batch(
        self,
        operation: ImportOperation,
        record_type: str,
        batch: int,
        outcome: BatchOutcome,
        *,
        late: bool = False,
        at_latest: bool = True,
    ) -> BatchCount:
        """Adds a batch's outcome to the counts exactly once: one transaction of the count update and
        the batch's marker (which keeps the outcome), conditional on the marker not existing yet.

        An operation still in the batch's step adds `completed` and `error`. A `late` count is for
        an operation that ended early (canceled, cleared, failed: its unprocessed records were all
        counted as errors then): the records the batch did import move from error to completed.
        `at_latest` says where the operation is stored (the cell's latest, or archived by id).
        """
        names = {"#count": "count", "#completed": "completed", "#error": "error", "#step": "step"}
        values: dict[str, Any] = {":completed": outcome.completed, ":now": utc_now().isoformat(), ":id": operation.id}
        if late:
            expression = (
                "SET #count.#completed = #count.#completed + :completed, "
                "#count.#error = #count.#error - :completed, updatedAt = :now"
            )
            condition = "id = :id AND (valid = :false OR #step IN (:failed, :canceled))"
            values |= {
                ":false": False,
                ":failed": ProgressStep.IMPORT_FAILED.value,
                ":canceled": ProgressStep.IMPORT_CANCELLED.value,
            }
        else:
            expression = (
                "SET #count.#completed = #count.#completed + :completed, "
                "#count.#error = #count.#error + :error, updatedAt = :now, heartbeatAt = :now"
            )
            condition = "id = :id AND #step = :step AND valid = :valid"
            values |= {":error": outcome.error, ":step": operation.step.value, ":valid": True}
        key = latest_operation_key(operation.cell) if at_latest else earlier_operation_key(operation.cell, operation.id)
        update = self._operation_update(key, expression, condition, names, values)
        marker = {
            "Put": {
                "TableName": self.table_name,
                "Item": _marshal(self._marker_item(operation.id, record_type, batch, outcome)),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        try:
            self._call("transact_write_items", TransactItems=[update, marker])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return BatchCount.ALREADY_COUNTED
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return BatchCount.STOPPED
            raise
        return BatchCount.COUNTED

    def update_operation(
        self,
        operation: ImportOperation,
        *,
        from_steps: frozenset[ProgressStep],
        step: ProgressStep | None = None,
        counts: dict[str, int] | None = None,
        failure: Failure | None = None,
        valid: bool | None = None,
        execution_arn: str | None = None,
        settle_unprocessed: bool = False,
        heartbeat: bool = False,
        stage_cursor: dict[str, Any] | None = None,
        forget_stage_cursor: bool = False,
        unchanged_since: datetime | None = None,
    ) -> ImportOperation:
        """Changes the cell's latest operation in place if it is still this valid operation in one of
        `from_steps`, else OperationConflict. One UpdateItem, computed by DynamoDB, so counts that
        batches add meanwhile are never overwritten.

        `settle_unprocessed` counts every record not yet processed as an error, which keeps
        completed + error == total when an operation ends early (cancel, clear, failure); such an
        operation stays in the ActiveOperations index, marked `reconcilePending`, until the sweeper
        has counted what batches in flight at the end imported (worker.reconcile_stopped).
        `heartbeat` records that the worker made progress; `stage_cursor` is where staging resumes,
        saved with the counts it goes with (`forget_stage_cursor` drops it once staging is done:
        every batch count rewrites the item, and its size is what a write costs). `unchanged_since`
        makes the update conditional on the operation not having been written since that
        `updatedAt` (a decision made on what was read).
        An operation that finishes gets its finish time and expiry and leaves the ActiveOperations
        index; one that becomes active joins it.
        """
        now = utc_now()
        finishing = step in FINISHED_STEPS or valid is False
        assignments = {
            "updatedAt": now.isoformat(),
            "step": step and step.value,
            "valid": valid,
            "executionArn": execution_arn,
            "failure": failure and asdict(failure),
            "heartbeatAt": now.isoformat() if heartbeat else None,
            "stageCursor": stage_cursor,
            "finishedAt": now.isoformat() if finishing else None,
            "expiresAt": _epoch(now + self.retention) if finishing else None,
            "activeShard": _ACTIVE_SHARD
            if (step in ACTIVE_STEPS and not finishing) or (finishing and settle_unprocessed)
            else None,
            "reconcilePending": True if finishing and settle_unprocessed else None,
        }
        values = {f":{name}": value for name, value in assignments.items() if value is not None}
        expressions = [f"#{name} = :{name}" for name, value in assignments.items() if value is not None]
        names = {f"#{name}": name for name, value in assignments.items() if value is not None}
        for count_name, value in (counts or {}).items():
            expressions.append(f"#count.#{count_name} = :count_{count_name}")
            names |= {"#count": "count", f"#{count_name}": count_name}
            values[f":count_{count_name}"] = value
        if settle_unprocessed:
            expressions.append("#count.#error = #count.#total - #count.#completed")
            names |= {"#count": "count", "#error": "error", "#total": "total", "#completed": "completed"}
        removed = (["activeShard"] if finishing and not settle_unprocessed else []) + (
            ["stageCursor"] if forget_stage_cursor else []
        )
        removals = f" REMOVE {', '.join(removed)}" if removed else ""
        steps = {f":from{i}": s.value for i, s in enumerate(sorted(from_steps))}
        condition = f"#id = :id AND #valid_now = :true AND #step_now IN ({', '.join(steps)})"
        if unchanged_since is not None:
            condition += " AND #updated_now = :seen"
            names["#updated_now"] = "updatedAt"
            steps[":seen"] = unchanged_since.isoformat()
        try:
            response = self._call(
                "update_item",
                TableName=self.table_name,
                Key=_marshal(latest_operation_key(operation.cell)),
                UpdateExpression="SET " + ", ".join(expressions) + removals,
                ConditionExpression=condition,
                ExpressionAttributeNames=names | {"#id": "id", "#valid_now": "valid", "#step_now": "step"},
                ExpressionAttributeValues=_marshal(values | steps | {":id": operation.id, ":true": True}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise OperationConflict(operation.cell) from exc
            raise
        return operation_from_item(_unmarshal(response["Attributes"]))

    def end_reconcile(self, cell: str, operation_id: str) -> None:
        """The operation leaves the ActiveOperations index: nothing is left to reconcile. Wherever it
        is stored (the latest, or archived by a newer import); one UpdateItem, two if archived."""
        for key in (latest_operation_key(cell), earlier_operation_key(cell, operation_id)):
            try:
                self._call(
                    "update_item",
                    TableName=self.table_name,
                    Key=_marshal(key),
                    UpdateExpression="REMOVE activeShard, reconcilePending",
                    ConditionExpression="id = :id",
                    ExpressionAttributeValues=_marshal({":id": operation_id}),
                )
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def mark_progress(self, operation: ImportOperation) -> bool:
        """Moves the operation's progress mark to now, keeping the one before: the rate's window.
        Conditional on the mark being the one `operation` was read with, so of several batches that
        see an old mark, one moves it. One UpdateItem; False if another batch moved it first."""
        values: dict[str, Any] = {":now": utc_now().isoformat(), ":id": operation.id}
        move = "markAt = :now, markProcessed = #count.#completed + #count.#error"
        condition = "id = :id AND attribute_not_exists(markAt)"
        if operation.mark is not None:
            # Right-hand sides read the item before the update: the old mark becomes the previous.
            move = "previousMarkAt = markAt, previousMarkProcessed = markProcessed, " + move
            condition = "id = :id AND markAt = :seen"
            values[":seen"] = operation.mark.at.isoformat()
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=_marshal(latest_operation_key(operation.cell)),
                UpdateExpression="SET " + move,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#count": "count", "#completed": "completed", "#error": "error"},
                ExpressionAttributeValues=_marshal(values),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def stage_api_records(self, operation: ImportOperation, records: list[StagedRecord], kind: str) -> ImportOperation:
        """Stages records sent through the API and adds them to the counts, atomically: one
        transaction per 99 records, conditional on the counts the records were numbered from."""
        for start in range(0, len(records), 99):
            chunk = records[start : start + 99]
            # Only while the operation takes data (new or ready): an import.run that won the race
            # has already handed the counts to the worker.
            update = self._operation_update(
                latest_operation_key(operation.cell),
                "SET #count.#total = #count.#total + :n, #count.#kind = #count.#kind + :n, #step = :ready, "
                "updatedAt = :now",
                "id = :id AND valid = :true AND #count.#kind = :before AND #step IN (:new, :ready)",
                {"#count": "count", "#total": "total", "#kind": kind, "#step": "step"},
                {
                    ":n": len(chunk),
                    ":ready": ProgressStep.USER_SELECTION.value,
                    ":now": utc_now().isoformat(),
                    ":id": operation.id,
                    ":true": True,
                    ":before": chunk[0].seq,
                    ":new": ProgressStep.NEW.value,
                },
            )
            puts = [
                {"Put": {"TableName": self.table_name, "Item": _marshal(self._staged_item(operation.id, record))}}
                for record in chunk
            ]
            try:
                self._call("transact_write_items", TransactItems=[update, *puts])
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "TransactionCanceledException":
                    raise OperationConflict(operation.cell) from exc
                raise
        return self.latest_operation(operation.cell) or operation

    def put_batch_outcome(self, operation_id: str, record_type: str, batch: int, outcome: BatchOutcome) -> None:
        """Records a batch's outcome without counting it: for sample operations (bulk-import demo)."""
        self._call(
            "put_item",
            TableName=self.table_name,
            Item=_marshal(self._marker_item(operation_id, record_type, batch, outcome)),
        )

    def _marker_item(self, operation_id: str, record_type: str, batch: int, outcome: BatchOutcome) -> dict[str, Any]:
        return {
            **batch_marker_key(operation_id, record_type, batch),
            **_outcome_to_item(outcome),
            "expiresAt": self._staged_expiry(),
        }

    def _staged_expiry(self) -> int:
        return _epoch(utc_now() + self.retention + STAGING_GRACE)

    def _staged_item(self, operation_id: str, record: StagedRecord) -> dict[str, Any]:
        item = {
            **staged_record_key(operation_id, record),
            "type": record.type,
            "seq": record.seq,
            "data": record.data,
            "source": record.source,
            "expiresAt": self._staged_expiry(),
        }
        if record.problem is not None:
            item["problem"] = record.problem
        if record.error is not None:
            # The sparse FailedRecords index lists exactly the records that carry these.
            item |= {
                "error": record.error,
                "errorCode": record.error_code or "record-failed",
                "failedOf": failed_shard(operation_id, record.batch),
                "failedKey": f"{_TYPE_ORDER[record.type]}#{record.seq:010d}",
            }
        return item

    def _operation_update(
        self, key: dict[str, str], expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        """A TransactWriteItems update of an operation's item."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _marshal(key),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _marshal(values),
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

        map_all(_REQUESTS, write, [requests[start : start + 25] for start in range(0, len(requests), 25)])


def _outcome_to_item(outcome: BatchOutcome) -> dict[str, Any]:
    return {
        "completed": outcome.completed,
        "error": outcome.error,
        "failed": [
            {"seq": seq, "code": code, "message": message} for seq, (code, message) in sorted(outcome.failed.items())
        ],
    }


def _outcome_from_item(item: dict[str, Any]) -> BatchOutcome:
    return BatchOutcome(
        completed=int(item["completed"]),
        failed={int(entry["seq"]): (entry["code"], entry["message"]) for entry in item.get("failed", [])},
    )


def _staged_record_from_item(item: dict[str, Any]) -> StagedRecord:
    return StagedRecord(
        type=item["type"],
        seq=int(item["seq"]),
        data=_plain(item["data"]),
        source=item["source"],
        error=item.get("error"),
        error_code=item.get("errorCode"),
        problem=item.get("problem"),
    )


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


def _plain(value: Any) -> Any:
    """DynamoDB values back as JSON values: numbers become ints, or floats when not whole."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _marshal(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(_storable(value)) for name, value in values.items()}


def _unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@lru_cache(maxsize=1)
def default_store() -> ImportStore:
    """The store for this process, created once so the client survives warm invocations.

    The endpoint comes from boto3's own configuration (AWS_ENDPOINT_URL in the local stack).
    """
    settings = get_settings()
    # botocore's standard mode retries throttling and 5xx with backoff; _call adds transaction conflicts.
    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return ImportStore(settings.table_name, client, timedelta(days=settings.retention_days))

"""Cells and import operations: the operation items, their counts and progress.

| item                        | PK          | SK                                        |
|-----------------------------|-------------|-------------------------------------------|
| cell                        | CELL#<cell> | CELL                                      |
| the cell's latest operation | CELL#<cell> | IMPORT#~latest                            |
| an earlier operation        | CELL#<cell> | IMPORT#<operation id>  (ids sort by time) |

The latest operation sits at a fixed key so that a status read is one BatchGetItem of fixed keys
(credential, cell, latest operation). Starting an operation moves the previous latest one to
`IMPORT#<id>` in the same transaction, so each operation is stored in exactly one place, and `~`
sorts after every hex id, so a descending Query lists the latest first.

The sparse `ActiveOperations` index (activeShard, startedAt; keys only) holds only operations that
are loading or importing (or ended and still to reconcile): the stalled-import sweeper finds just
those, then reads them. Finished operations carry `expiresAt` (the table's TTL).

A batch is counted here (count_batch) with its marker (record_items.py) in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from bulk_import.dal.dynamodb.attributes import ExpressionNames, KeyAttribute
from bulk_import.dal.dynamodb.record_items import (
    BatchCount,
    BatchOutcome,
    RecordItems,
    batch_marker_key,
    outcome_from_item,
)
from bulk_import.dal.dynamodb.table import Page, epoch, from_epoch, marshal, optional_time, plain, unmarshal
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    FINISHED_STEPS,
    START_KEY_LIFETIME,
    Counts,
    Failure,
    ImportOperation,
    ImportState,
    KeyedStart,
    ProgressMark,
    ProgressStep,
    StartKey,
    steps_in_state,
    utc_now,
)
from bulk_import.domain.records.staged import StagedRecord

LATEST = "IMPORT#~latest"
ACTIVE_INDEX = "ActiveOperations"
_ACTIVE_SHARD = "ACTIVE"


class CellAttribute(StrEnum):
    """A cell's attributes."""

    CELL = "cell"
    CREATED_AT = "createdAt"


class OperationAttribute(StrEnum):
    """An operation's attributes, wherever it is stored (the cell's latest, or earlier by id)."""

    ID = "id"
    CELL = "cell"
    TYPE = "type"
    IMPORTER_KEY = "importerKey"
    IMPORTATION_NAME = "importationName"
    STEP = "step"
    VALID = "valid"
    STARTED_AT = "startedAt"
    UPDATED_AT = "updatedAt"
    USER = "user"
    COUNT = "count"  # a map, CountAttribute
    FAILURE = "failure"  # a map, FailureAttribute
    SOURCE_KEY = "sourceKey"
    SOURCE_ETAG = "sourceETag"
    SOURCE_URL = "sourceUrl"
    STAGE_CURSOR = "stageCursor"
    EXECUTION_ARN = "executionArn"
    PARENT_ID = "parentId"
    HEARTBEAT_AT = "heartbeatAt"
    FINISHED_AT = "finishedAt"
    EXPIRES_AT = "expiresAt"  # also the table's TTL attribute
    MARK_AT = "markAt"
    MARK_PROCESSED = "markProcessed"
    PREVIOUS_MARK_AT = "previousMarkAt"
    PREVIOUS_MARK_PROCESSED = "previousMarkProcessed"
    ACTIVE_SHARD = "activeShard"  # the ActiveOperations index's partition key (its sort key is startedAt)
    RECONCILE_PENDING = "reconcilePending"
    WAITING_UNTIL = "waitingUntil"
    SELECTION_TOKEN = "selectionToken"


class CountAttribute(StrEnum):
    """An operation's counts, in its `count` map; the record types' counts are named by
    bulk_import.domain.records.staged.COUNT_FIELD."""

    TOTAL = "total"
    USERS = "users"
    MESSAGES = "messages"
    CHANNELS = "channels"
    COMPLETED = "completed"
    ERROR = "error"


class FailureAttribute(StrEnum):
    """Why an operation failed, in its `failure` map."""

    CODE = "code"
    MESSAGE = "message"


class StartKeyAttribute(StrEnum):
    """A start's Idempotency-Key's attributes (the key's hash is in its sort key)."""

    OPERATION_ID = "operationId"
    REQUEST_HASH = "requestHash"
    EXPIRES_AT = "expiresAt"  # also the table's TTL attribute


class OperationConflict(Exception):
    """A conditional write lost: another operation is active, or the latest one changed meanwhile."""


class KeyTaken(OperationConflict):
    """A start with the same Idempotency-Key claimed its import first; `keyed` is what it recorded
    (DynamoDB returns it with the refusal)."""

    def __init__(self, cell: str, item: Any) -> None:
        super().__init__(cell)
        self.keyed = keyed_start_from_item(unmarshal(item))


class LatestChanged(OperationConflict):
    """A conditional write to the cell's latest operation lost. `current` is that operation as the
    write found it (None: the cell has none): DynamoDB returns it with the refusal
    (ReturnValuesOnConditionCheckFailure), so no second request reads it."""

    def __init__(self, cell: str, item: Any) -> None:  # the item as DynamoDB returned it, or None
        super().__init__(cell)
        self.current = operation_from_item(unmarshal(item)) if item else None


def cell_key(cell: str) -> dict[str, str]:
    return {KeyAttribute.PK: f"CELL#{cell}", KeyAttribute.SK: "CELL"}


def cell_to_item(cell: str, created_at: datetime) -> dict[str, Any]:
    return {CellAttribute.CELL: cell, CellAttribute.CREATED_AT: created_at.isoformat()}


def cell_created_at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item[CellAttribute.CREATED_AT])


def start_key_key(cell: str, key_hash: str) -> dict[str, str]:
    """A start's Idempotency-Key, recorded with the operation the start claimed."""
    return {KeyAttribute.PK: f"IDEMPOTENCY#{cell}", KeyAttribute.SK: f"START#{key_hash}"}


def keyed_start_to_item(keyed: KeyedStart) -> dict[str, Any]:
    return {
        StartKeyAttribute.OPERATION_ID: keyed.operation_id,
        StartKeyAttribute.REQUEST_HASH: keyed.request_hash,
        StartKeyAttribute.EXPIRES_AT: epoch(keyed.expires_at),
    }


def keyed_start_from_item(item: dict[str, Any]) -> KeyedStart:
    return KeyedStart(
        item[StartKeyAttribute.OPERATION_ID],
        item[StartKeyAttribute.REQUEST_HASH],
        from_epoch(item[StartKeyAttribute.EXPIRES_AT]),
    )


def latest_operation_key(cell: str) -> dict[str, str]:
    return {KeyAttribute.PK: f"CELL#{cell}", KeyAttribute.SK: LATEST}


def earlier_operation_key(cell: str, operation_id: str) -> dict[str, str]:
    return {KeyAttribute.PK: f"CELL#{cell}", KeyAttribute.SK: f"IMPORT#{operation_id}"}


def counts_to_item(counts: Counts) -> dict[str, int]:
    return {
        CountAttribute.TOTAL: counts.total,
        CountAttribute.USERS: counts.users,
        CountAttribute.MESSAGES: counts.messages,
        CountAttribute.CHANNELS: counts.channels,
        CountAttribute.COMPLETED: counts.completed,
        CountAttribute.ERROR: counts.error,
    }


def counts_from_item(count: dict[str, Any]) -> Counts:
    return Counts(
        total=int(count[CountAttribute.TOTAL]),
        users=int(count[CountAttribute.USERS]),
        messages=int(count[CountAttribute.MESSAGES]),
        channels=int(count[CountAttribute.CHANNELS]),
        completed=int(count[CountAttribute.COMPLETED]),
        error=int(count[CountAttribute.ERROR]),
    )


def failure_to_item(failure: Failure) -> dict[str, str]:
    return {FailureAttribute.CODE: failure.code, FailureAttribute.MESSAGE: failure.message}


def failure_from_item(failure: dict[str, Any]) -> Failure:
    return Failure(code=failure[FailureAttribute.CODE], message=failure[FailureAttribute.MESSAGE])


# Field by field, not pydantic aliases: the domain is dataclasses, for the status functions' cold
# start (bulk_import.domain.operation), and the item's optional attributes are left out rather than null.
def operation_to_item(operation: ImportOperation) -> dict[str, Any]:
    item: dict[str, Any] = {
        OperationAttribute.ID: operation.id,
        OperationAttribute.CELL: operation.cell,
        OperationAttribute.TYPE: operation.type,
        OperationAttribute.IMPORTER_KEY: operation.importer_key,
        OperationAttribute.STEP: operation.step.value,
        OperationAttribute.VALID: operation.valid,
        OperationAttribute.STARTED_AT: operation.started_at.isoformat(),
        OperationAttribute.UPDATED_AT: operation.updated_at.isoformat(),
        OperationAttribute.USER: operation.user,
        OperationAttribute.COUNT: counts_to_item(operation.count),
    }
    if operation.is_active or operation.reconcile_pending:  # an archived one still settles its counts
        item[OperationAttribute.ACTIVE_SHARD] = _ACTIVE_SHARD
    mark, previous = operation.mark, operation.previous_mark
    optional = {
        OperationAttribute.HEARTBEAT_AT: _iso(operation.heartbeat_at),
        OperationAttribute.FINISHED_AT: _iso(operation.finished_at),
        OperationAttribute.MARK_AT: _iso(mark.at if mark else None),
        OperationAttribute.MARK_PROCESSED: mark and mark.processed,
        OperationAttribute.PREVIOUS_MARK_AT: _iso(previous.at if previous else None),
        OperationAttribute.PREVIOUS_MARK_PROCESSED: previous and previous.processed,
        OperationAttribute.EXPIRES_AT: operation.expires_at and epoch(operation.expires_at),
        OperationAttribute.PARENT_ID: operation.parent_id,
        OperationAttribute.IMPORTATION_NAME: operation.importation_name,
        OperationAttribute.FAILURE: operation.failure and failure_to_item(operation.failure),
        OperationAttribute.SOURCE_KEY: operation.source_key,
        OperationAttribute.EXECUTION_ARN: operation.execution_arn,
        OperationAttribute.SOURCE_ETAG: operation.source_etag,
        OperationAttribute.SOURCE_URL: operation.source_url,
        OperationAttribute.STAGE_CURSOR: operation.stage_cursor,
        OperationAttribute.WAITING_UNTIL: _iso(operation.waiting_until),
        OperationAttribute.SELECTION_TOKEN: operation.selection_token,
        OperationAttribute.RECONCILE_PENDING: operation.reconcile_pending or None,
    }
    item |= {name: value for name, value in optional.items() if value is not None}
    return item


def operation_from_item(item: dict[str, Any]) -> ImportOperation:
    return ImportOperation(
        id=item[OperationAttribute.ID],
        cell=item[OperationAttribute.CELL],
        type=item[OperationAttribute.TYPE],
        importer_key=item[OperationAttribute.IMPORTER_KEY],
        importation_name=item.get(OperationAttribute.IMPORTATION_NAME),
        step=ProgressStep(item[OperationAttribute.STEP]),
        valid=item[OperationAttribute.VALID],
        started_at=datetime.fromisoformat(item[OperationAttribute.STARTED_AT]),
        updated_at=datetime.fromisoformat(item[OperationAttribute.UPDATED_AT]),
        user=item[OperationAttribute.USER],
        count=counts_from_item(item[OperationAttribute.COUNT]),
        failure=failure_from_item(item[OperationAttribute.FAILURE]) if OperationAttribute.FAILURE in item else None,
        source_key=item.get(OperationAttribute.SOURCE_KEY),
        execution_arn=item.get(OperationAttribute.EXECUTION_ARN),
        source_etag=item.get(OperationAttribute.SOURCE_ETAG),
        source_url=item.get(OperationAttribute.SOURCE_URL),
        stage_cursor=plain(item[OperationAttribute.STAGE_CURSOR]) if OperationAttribute.STAGE_CURSOR in item else None,
        reconcile_pending=item.get(OperationAttribute.RECONCILE_PENDING, False),
        waiting_until=optional_time(item.get(OperationAttribute.WAITING_UNTIL)),
        selection_token=item.get(OperationAttribute.SELECTION_TOKEN),
        parent_id=item.get(OperationAttribute.PARENT_ID),
        heartbeat_at=optional_time(item.get(OperationAttribute.HEARTBEAT_AT)),
        finished_at=optional_time(item.get(OperationAttribute.FINISHED_AT)),
        expires_at=(from_epoch(item[OperationAttribute.EXPIRES_AT]) if OperationAttribute.EXPIRES_AT in item else None),
        mark=_mark(item, OperationAttribute.MARK_AT, OperationAttribute.MARK_PROCESSED),
        previous_mark=_mark(item, OperationAttribute.PREVIOUS_MARK_AT, OperationAttribute.PREVIOUS_MARK_PROCESSED),
    )


def _key_of(item: dict[str, Any]) -> dict[str, str]:
    return {KeyAttribute.PK: item[KeyAttribute.PK], KeyAttribute.SK: item[KeyAttribute.SK]}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _mark(item: dict[str, Any], at: OperationAttribute, processed: OperationAttribute) -> ProgressMark | None:
    if at not in item:
        return None
    return ProgressMark(at=datetime.fromisoformat(item[at]), processed=int(item[processed]))


def _errors_are_the_rest(names: ExpressionNames) -> str:
    """Settling an operation's counts: every record not counted as completed is an error."""
    count = OperationAttribute.COUNT
    return (
        f"{names(count, CountAttribute.ERROR)} = "
        f"{names(count, CountAttribute.TOTAL)} - {names(count, CountAttribute.COMPLETED)}"
    )


class OperationItems(RecordItems):
    """Cells and operations; counting a batch writes its marker too (RecordItems), and staging the
    API's records adds them to the counts."""

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
                if partition == f"CELL#{cell}" and item.get(OperationAttribute.ID) == operation_id
            ),
            None,
        )
        return operation, found

    def latest_operations(self, cell: str, limit: int) -> list[ImportOperation]:
        """The cell's operations, newest first: the latest, then earlier ones by descending id."""
        return self.operations(cell, limit).items

    def operations(
        self, cell: str, limit: int, start_key: dict[str, Any] | None = None, state: ImportState | None = None
    ) -> Page[ImportOperation]:
        """A page of the cell's operations, newest first, optionally only those in `state`. One
        Query, more only while the filter leaves the page short."""
        names = ExpressionNames()
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": (
                f"{names(KeyAttribute.PK)} = :pk AND begins_with({names(KeyAttribute.SK)}, :prefix)"
            ),
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        values: dict[str, Any] = {":pk": f"CELL#{cell}", ":prefix": "IMPORT#"}
        if state is not None:
            steps = {f":step{i}": step.value for i, step in enumerate(sorted(steps_in_state(state)))}
            step = names(OperationAttribute.STEP)
            # The state is derived (ImportOperation.state): `valid` decides first. Each name is
            # registered only where the filter uses it: DynamoDB refuses unused names.
            in_steps = f"{step} IN ({', '.join(steps)})" if steps else f"attribute_not_exists({step})"
            if state == ImportState.ERROR:
                valid = names(OperationAttribute.VALID)
                arguments["FilterExpression"] = f"{in_steps} OR ({valid} = :false AND {step} <> :done)"
                values |= {":false": False, ":done": ProgressStep.DONE.value}
            elif state == ImportState.DONE:
                arguments["FilterExpression"] = in_steps
            else:
                arguments["FilterExpression"] = f"{in_steps} AND {names(OperationAttribute.VALID)} = :true"
                values[":true"] = True
            values |= steps
        arguments["ExpressionAttributeNames"] = names.names
        arguments["ExpressionAttributeValues"] = marshal(values)
        return self._page(arguments, limit, start_key, operation_from_item)

    def operation(self, cell: str, operation_id: str) -> ImportOperation | None:
        """One operation of the cell, the latest or an earlier one (one BatchGetItem)."""
        return self._operation_of(cell, operation_id)[0]

    def stalled_operations(self, heartbeat_before: datetime) -> list[ImportOperation]:
        """Active operations (and ended ones still to reconcile) whose last heartbeat is older than
        `heartbeat_before`, oldest first. A Query of the keys-only ActiveOperations index per page,
        then a BatchGetItem per 100."""
        keys: list[dict[str, str]] = []
        start = None
        names = ExpressionNames()
        while True:
            page = self._page(
                {
                    "TableName": self.table_name,
                    "IndexName": ACTIVE_INDEX,
                    "KeyConditionExpression": f"{names(OperationAttribute.ACTIVE_SHARD)} = :active",
                    "ExpressionAttributeNames": names.names,
                    "ExpressionAttributeValues": marshal({":active": _ACTIVE_SHARD}),
                },
                1000,
                start,
                _key_of,
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

    def put_cell(self, cell: str) -> bool:
        """Creates the cell if it does not exist yet; True when this call created it."""
        names = ExpressionNames()
        try:
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=marshal({**cell_key(cell), **cell_to_item(cell, utc_now())}),
                ConditionExpression=f"attribute_not_exists({names(KeyAttribute.PK)})",
                ExpressionAttributeNames=names.names,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def start_operation(
        self, operation: ImportOperation, previous: ImportOperation | None, key: StartKey | None = None
    ) -> None:
        """Makes `operation` the cell's latest, moving `previous` (the latest read before) aside,
        and records `key` (a start's Idempotency-Key) with it.

        One transaction, conditional on the latest record being unchanged since the caller read it
        and decided it may be replaced, and on `key` being unused (or expired); otherwise
        KeyTaken if the key was used, else OperationConflict, and nothing is written.
        """
        latest = {**latest_operation_key(operation.cell), **operation_to_item(operation)}
        if previous is None:
            actions = [self._new_item_put(latest)]
        else:
            # Optimistic: the latest must still be exactly the record the caller decided on.
            names = ExpressionNames()
            new_latest = {
                "TableName": self.table_name,
                "Item": marshal(latest),
                "ConditionExpression": f"{names(OperationAttribute.ID)} = :previous "
                f"AND {names(OperationAttribute.UPDATED_AT)} = :previous_updated",
                "ExpressionAttributeNames": names.names,
                "ExpressionAttributeValues": marshal(
                    {":previous": previous.id, ":previous_updated": previous.updated_at.isoformat()}
                ),
            }
            archived = {**earlier_operation_key(previous.cell, previous.id), **operation_to_item(previous)}
            actions = [self._new_item_put(archived), {"Put": new_latest}]
        if key is not None:
            now = utc_now()
            keyed = KeyedStart(operation.id, key.request_hash, now + START_KEY_LIFETIME)
            names = ExpressionNames()
            put = {
                "TableName": self.table_name,
                "Item": marshal({**start_key_key(operation.cell, key.key_hash), **keyed_start_to_item(keyed)}),
                # TTL deletes an expired item up to days later: until then it is as good as gone.
                "ConditionExpression": f"attribute_not_exists({names(KeyAttribute.PK)}) "
                f"OR {names(StartKeyAttribute.EXPIRES_AT)} < :now",
                "ExpressionAttributeNames": names.names,
                "ExpressionAttributeValues": marshal({":now": epoch(now)}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            actions.append({"Put": put})
        try:
            self._call("transact_write_items", TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            if key is not None and len(reasons) == len(actions) and reasons[-1].get("Code") == "ConditionalCheckFailed":
                raise KeyTaken(operation.cell, reasons[-1]["Item"]) from exc
            raise OperationConflict(operation.cell) from exc

    def _new_item_put(self, item: dict[str, Any]) -> dict[str, Any]:
        """A transaction's Put of `item`, conditional on no item having its key yet."""
        names = ExpressionNames()
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": marshal(item),
                "ConditionExpression": f"attribute_not_exists({names(KeyAttribute.PK)})",
                "ExpressionAttributeNames": names.names,
            }
        }

    def keyed_start(self, cell: str, key_hash: str) -> KeyedStart | None:
        """What the start with this Idempotency-Key recorded, if one did (one BatchGetItem)."""
        key = start_key_key(cell, key_hash)
        item = self._batch_get([key]).get(tuple(key.values()))
        return keyed_start_from_item(item) if item else None

    def forget_start_key(self, cell: str, key: StartKey, operation_id: str) -> None:
        """Frees an Idempotency-Key whose start failed, if it still names that start's operation."""
        self.delete_if(start_key_key(cell, key.key_hash), StartKeyAttribute.OPERATION_ID, operation_id)

    def latest_operation(self, cell: str) -> ImportOperation | None:
        response = self._call(
            "get_item", TableName=self.table_name, Key=marshal(latest_operation_key(cell)), ConsistentRead=True
        )
        return operation_from_item(unmarshal(response["Item"])) if "Item" in response else None

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
            bool(latest and latest.get(OperationAttribute.ID) == operation_id),
            outcome_from_item(marker_item) if marker_item else None,
        )

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
        an operation that ended early (canceled, cleared, failed) and whose counts are not settled
        yet (`reconcilePending`): it adds them the same way, so no count ever goes down; once
        settled, a late count is refused (STOPPED). `at_latest` says where the operation is stored
        (the cell's latest, or archived by id).
        """
        names, op = ExpressionNames(), OperationAttribute
        completed, error = names(op.COUNT, CountAttribute.COMPLETED), names(op.COUNT, CountAttribute.ERROR)
        values: dict[str, Any] = {
            ":completed": outcome.completed,
            ":error": outcome.error,
            ":now": utc_now().isoformat(),
            ":id": operation.id,
        }
        expression = (
            f"SET {completed} = {completed} + :completed, {error} = {error} + :error, {names(op.UPDATED_AT)} = :now"
        )
        if late:
            condition = f"{names(op.ID)} = :id AND {names(op.RECONCILE_PENDING)} = :true"
            values[":true"] = True
        else:
            expression += f", {names(op.HEARTBEAT_AT)} = :now"
            condition = f"{names(op.ID)} = :id AND {names(op.STEP)} = :step AND {names(op.VALID)} = :valid"
            values |= {":step": operation.step.value, ":valid": True}
        key = latest_operation_key(operation.cell) if at_latest else earlier_operation_key(operation.cell, operation.id)
        update = self._transact_update(key, expression, condition, names.names, values)
        marker = self._new_item_put(self._marker_item(operation.id, record_type, batch, outcome))
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
        ended_early: bool = False,
        waiting_until: datetime | None = None,
        heartbeat: bool = False,
        stage_cursor: dict[str, Any] | None = None,
        source: tuple[str, str] | None = None,
        forget_stage_cursor: bool = False,
        forget_selection_token: bool = False,
        unchanged_since: datetime | None = None,
        return_old: bool = False,
    ) -> ImportOperation:
        """Changes the cell's latest operation in place if it is still this valid operation in one of
        `from_steps`, else OperationConflict. One UpdateItem, computed by DynamoDB, so counts that
        batches add meanwhile are never overwritten.

        `ended_early` ends an operation whose batches may still be in flight (cancel, clear or
        failure of a loading or importing one): its counts stay as they are, and it stays in the
        ActiveOperations index, marked `reconcilePending`, until its counts are settled
        (worker.reconcile_stopped, docs/decisions/0001-counts-settle-after-a-stop.md).
        `settle_unprocessed` counts every record not yet processed as an error at once: for an
        operation that no batch ever ran for (a staged Rocket.Chat operation cleared).
        `waiting_until` records that a retry waits for its parent's counts to settle; the worker's
        next progress (`heartbeat`) or the operation's end forgets it. `heartbeat` records that the
        worker made progress; `stage_cursor` is where staging resumes, saved with the counts it goes
        with (`forget_stage_cursor` drops it once staging is done:
        every batch count rewrites the item, and its size is what a write costs; so does
        `forget_selection_token` once the selection is made). `source` records the input file's key and
        ETag once it is downloaded. `unchanged_since`
        makes the update conditional on the operation not having been written since that
        `updatedAt` (a decision made on what was read). It answers the operation as written, or with
        `return_old` as it was just before (what the write removed).
        An operation that finishes gets its finish time and expiry and leaves the ActiveOperations
        index; one that becomes active joins it.
        """
        now = utc_now()
        finishing = step in FINISHED_STEPS or valid is False
        op, names = OperationAttribute, ExpressionNames()
        assignments = {
            op.UPDATED_AT: now.isoformat(),
            op.STEP: step and step.value,
            op.VALID: valid,
            op.EXECUTION_ARN: execution_arn,
            op.FAILURE: failure and failure_to_item(failure),
            op.HEARTBEAT_AT: now.isoformat() if heartbeat else None,
            op.STAGE_CURSOR: stage_cursor,
            op.SOURCE_KEY: source and source[0],
            op.SOURCE_ETAG: source and source[1],
            op.FINISHED_AT: now.isoformat() if finishing else None,
            op.EXPIRES_AT: epoch(now + self.retention) if finishing else None,
            op.ACTIVE_SHARD: _ACTIVE_SHARD if (step in ACTIVE_STEPS and not finishing) or ended_early else None,
            op.RECONCILE_PENDING: True if ended_early else None,
            op.WAITING_UNTIL: waiting_until and waiting_until.isoformat(),
        }
        values = {f":{name.value}": value for name, value in assignments.items() if value is not None}
        expressions = [f"{names(name)} = :{name.value}" for name, value in assignments.items() if value is not None]
        for count_name, value in (counts or {}).items():
            expressions.append(f"{names(op.COUNT, CountAttribute(count_name))} = :count_{count_name}")
            values[f":count_{count_name}"] = value
        if settle_unprocessed:
            expressions.append(_errors_are_the_rest(names))
        removed = (
            ([op.ACTIVE_SHARD] if finishing and not ended_early else [])
            + ([op.STAGE_CURSOR] if forget_stage_cursor else [])
            + ([op.SELECTION_TOKEN] if forget_selection_token else [])
            + ([op.WAITING_UNTIL] if waiting_until is None and (heartbeat or finishing) else [])
        )
        removals = f" REMOVE {', '.join(names(name) for name in removed)}" if removed else ""
        steps = {f":from{i}": s.value for i, s in enumerate(sorted(from_steps))}
        condition = f"{names(op.ID)} = :id AND {names(op.VALID)} = :true AND {names(op.STEP)} IN ({', '.join(steps)})"
        if unchanged_since is not None:
            condition += f" AND {names(op.UPDATED_AT)} = :seen"
            steps[":seen"] = unchanged_since.isoformat()
        try:
            response = self._call(
                "update_item",
                TableName=self.table_name,
                Key=marshal(latest_operation_key(operation.cell)),
                UpdateExpression="SET " + ", ".join(expressions) + removals,
                ConditionExpression=condition,
                ExpressionAttributeNames=names.names,
                ExpressionAttributeValues=marshal(values | steps | {":id": operation.id, ":true": True}),
                ReturnValues="ALL_OLD" if return_old else "ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LatestChanged(operation.cell, exc.response.get("Item")) from exc
            raise
        return operation_from_item(unmarshal(response["Attributes"]))

    def await_selection(self, cell: str, operation_id: str, token: str) -> bool:
        """Records the task token the worker waits on, if the operation still waits for its selection
        (valid, in `importer_user_selection`); False if it does not (startImport made it already, or
        the operation ended). One UpdateItem."""
        op, names = OperationAttribute, ExpressionNames()
        condition = f"{names(op.ID)} = :id AND {names(op.VALID)} = :true AND {names(op.STEP)} = :waiting"
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=marshal(latest_operation_key(cell)),
                UpdateExpression=f"SET {names(op.SELECTION_TOKEN)} = :token",
                ConditionExpression=condition,
                ExpressionAttributeNames=names.names,
                ExpressionAttributeValues=marshal(
                    {":id": operation_id, ":true": True, ":waiting": ProgressStep.USER_SELECTION.value, ":token": token}
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def settle_counts(self, cell: str, operation_id: str) -> None:
        """Counts every record of an operation that ended early and was never imported as an error
        (`error = total - completed`), once nothing can count anymore, and takes it out of the
        ActiveOperations index. Wherever it is stored (the latest, or archived by a newer import);
        conditional on `reconcilePending`, so a repeat changes nothing. One UpdateItem, two if
        archived."""
        op, names = OperationAttribute, ExpressionNames()
        update = (
            f"SET {_errors_are_the_rest(names)}, {names(op.UPDATED_AT)} = :now "
            f"REMOVE {names(op.ACTIVE_SHARD)}, {names(op.RECONCILE_PENDING)}"
        )
        condition = f"{names(op.ID)} = :id AND {names(op.RECONCILE_PENDING)} = :true"
        values = {":id": operation_id, ":true": True, ":now": utc_now().isoformat()}
        for key in (latest_operation_key(cell), earlier_operation_key(cell, operation_id)):
            if self._update_if(key, update, condition, names, values):
                return

    def mark_progress(self, operation: ImportOperation) -> bool:
        """Moves the operation's progress mark to now, keeping the one before: the rate's window.
        Conditional on the mark being the one `operation` was read with, so of several batches that
        see an old mark, one moves it. One UpdateItem; False if another batch moved it first."""
        op, names = OperationAttribute, ExpressionNames()
        values: dict[str, Any] = {":now": utc_now().isoformat(), ":id": operation.id}
        mark_at, mark_processed = names(op.MARK_AT), names(op.MARK_PROCESSED)
        processed = f"{names(op.COUNT, CountAttribute.COMPLETED)} + {names(op.COUNT, CountAttribute.ERROR)}"
        move = f"{mark_at} = :now, {mark_processed} = {processed}"
        condition = f"{names(op.ID)} = :id AND attribute_not_exists({mark_at})"
        if operation.mark is not None:
            # Right-hand sides read the item before the update: the old mark becomes the previous.
            move = (
                f"{names(op.PREVIOUS_MARK_AT)} = {mark_at}, "
                f"{names(op.PREVIOUS_MARK_PROCESSED)} = {mark_processed}, {move}"
            )
            condition = f"{names(op.ID)} = :id AND {mark_at} = :seen"
            values[":seen"] = operation.mark.at.isoformat()
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=marshal(latest_operation_key(operation.cell)),
                UpdateExpression="SET " + move,
                ConditionExpression=condition,
                ExpressionAttributeNames=names.names,
                ExpressionAttributeValues=marshal(values),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def stage_api_records(self, operation: ImportOperation, records: list[StagedRecord], kind: str) -> None:
        """Stages records sent through the API and adds them to the counts, atomically: one
        transaction per 99 records, conditional on the counts the records were numbered from
        (else LatestChanged). `kind` is the records' count field (users, channels, messages)."""
        kind_count = CountAttribute(kind)
        for start in range(0, len(records), 99):
            chunk = records[start : start + 99]
            # Only while the operation takes data (new or ready): an import.run that won the race
            # has already handed the counts to the worker.
            op, names = OperationAttribute, ExpressionNames()
            total, of_kind, step = names(op.COUNT, CountAttribute.TOTAL), names(op.COUNT, kind_count), names(op.STEP)
            update = self._transact_update(
                latest_operation_key(operation.cell),
                f"SET {total} = {total} + :n, {of_kind} = {of_kind} + :n, {step} = :ready, "
                f"{names(op.UPDATED_AT)} = :now",
                f"{names(op.ID)} = :id AND {names(op.VALID)} = :true AND {of_kind} = :before "
                f"AND {step} IN (:new, :ready)",
                names.names,
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
            update["Update"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            puts = [
                {"Put": {"TableName": self.table_name, "Item": marshal(self._staged_item(operation.id, record))}}
                for record in chunk
            ]
            try:
                self._call("transact_write_items", TransactItems=[update, *puts])
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or [{}]
                # Only the update has a condition; other reasons (contention) outlasted _call's retries.
                if reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise LatestChanged(operation.cell, reasons[0].get("Item")) from exc
                raise

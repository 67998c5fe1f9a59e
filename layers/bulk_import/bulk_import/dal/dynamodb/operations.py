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

A batch is counted here (count_batch) with its marker (records.py) in one transaction.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bulk_import.dal.dynamodb.records import BatchCount, BatchOutcome, RecordItems, batch_marker_key, outcome_from_item
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
#: Settling an operation's counts: every record not counted as completed is an error.
_ERRORS_ARE_THE_REST = "#count.#error = #count.#total - #count.#completed"
_COUNT_NAMES = {"#count": "count", "#error": "error", "#total": "total", "#completed": "completed"}


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
    return {"PK": f"CELL#{cell}", "SK": "CELL"}


def start_key_key(cell: str, key_hash: str) -> dict[str, str]:
    """A start's Idempotency-Key, recorded with the operation the start claimed."""
    return {"PK": f"IDEMPOTENCY#{cell}", "SK": f"START#{key_hash}"}


def keyed_start_from_item(item: dict[str, Any]) -> KeyedStart:
    return KeyedStart(item["operationId"], item["requestHash"], from_epoch(item["expiresAt"]))


def latest_operation_key(cell: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": LATEST}


def earlier_operation_key(cell: str, operation_id: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": f"IMPORT#{operation_id}"}


# Field by field, not pydantic aliases: the domain is dataclasses, for the status functions' cold
# start (bulk_import.domain.operation), and the item's optional attributes are left out rather than null.
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
    if operation.is_active or operation.reconcile_pending:  # an archived one still settles its counts
        item["activeShard"] = _ACTIVE_SHARD
    for name, moment in (
        ("heartbeatAt", operation.heartbeat_at),
        ("finishedAt", operation.finished_at),
        ("markAt", operation.mark.at if operation.mark is not None else None),
        ("previousMarkAt", operation.previous_mark.at if operation.previous_mark is not None else None),
    ):
        if moment is not None:
            item[name] = moment.isoformat()
    optional = {
        "markProcessed": operation.mark and operation.mark.processed,
        "previousMarkProcessed": operation.previous_mark and operation.previous_mark.processed,
        "expiresAt": operation.expires_at and epoch(operation.expires_at),
        "parentId": operation.parent_id,
        "importationName": operation.importation_name,
        "failure": operation.failure and asdict(operation.failure),
        "sourceKey": operation.source_key,
        "executionArn": operation.execution_arn,
        "sourceETag": operation.source_etag,
        "stageCursor": operation.stage_cursor,
        "waitingUntil": operation.waiting_until and operation.waiting_until.isoformat(),
    }
    item |= {name: value for name, value in optional.items() if value is not None}
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
        stage_cursor=plain(item["stageCursor"]) if "stageCursor" in item else None,
        reconcile_pending=item.get("reconcilePending", False),
        waiting_until=optional_time(item.get("waitingUntil")),
        parent_id=item.get("parentId"),
        heartbeat_at=optional_time(item.get("heartbeatAt")),
        finished_at=optional_time(item.get("finishedAt")),
        expires_at=from_epoch(item["expiresAt"]) if "expiresAt" in item else None,
        mark=_mark(item, "markAt", "markProcessed"),
        previous_mark=_mark(item, "previousMarkAt", "previousMarkProcessed"),
    )


def _mark(item: dict[str, Any], at: str, processed: str) -> ProgressMark | None:
    if at not in item:
        return None
    return ProgressMark(at=datetime.fromisoformat(item[at]), processed=int(item[processed]))


class OperationItems(RecordItems):
    """Cells and operations; counting a batch writes its marker too (RecordItems)."""

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
        arguments["ExpressionAttributeValues"] = marshal(values)
        return self._page(arguments, limit, start_key, operation_from_item)

    def operation(self, cell: str, operation_id: str) -> ImportOperation | None:
        """One operation of the cell, the latest or an earlier one (one BatchGetItem)."""
        return self._operation_of(cell, operation_id)[0]

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
                    "ExpressionAttributeValues": marshal({":active": _ACTIVE_SHARD}),
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

    def put_cell(self, cell: str) -> bool:
        """Creates the cell if it does not exist yet; True when this call created it."""
        try:
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=marshal({**cell_key(cell), "cell": cell, "createdAt": utc_now().isoformat()}),
                ConditionExpression="attribute_not_exists(PK)",
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
        new_latest = {
            "Put": {
                "TableName": self.table_name,
                "Item": marshal({**latest_operation_key(operation.cell), **operation_to_item(operation)}),
            }
        }
        if previous is None:
            new_latest["Put"]["ConditionExpression"] = "attribute_not_exists(PK)"
            actions = [new_latest]
        else:
            # Optimistic: the latest must still be exactly the record the caller decided on.
            new_latest["Put"]["ConditionExpression"] = "id = :previous AND updatedAt = :previous_updated"
            new_latest["Put"]["ExpressionAttributeValues"] = marshal(
                {":previous": previous.id, ":previous_updated": previous.updated_at.isoformat()}
            )
            archived = {**earlier_operation_key(previous.cell, previous.id), **operation_to_item(previous)}
            actions = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": marshal(archived),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                new_latest,
            ]
        if key is not None:
            now = utc_now()
            keyed = {"operationId": operation.id, "requestHash": key.request_hash}
            item = {
                **start_key_key(operation.cell, key.key_hash),
                **keyed,
                "expiresAt": epoch(now + START_KEY_LIFETIME),
            }
            put = {
                "TableName": self.table_name,
                "Item": marshal(item),
                # TTL deletes an expired item up to days later: until then it is as good as gone.
                "ConditionExpression": "attribute_not_exists(PK) OR expiresAt < :now",
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

    def keyed_start(self, cell: str, key_hash: str) -> KeyedStart | None:
        """What the start with this Idempotency-Key recorded, if one did (one BatchGetItem)."""
        key = start_key_key(cell, key_hash)
        item = self._batch_get([key]).get(tuple(key.values()))
        return keyed_start_from_item(item) if item else None

    def forget_start_key(self, cell: str, key: StartKey, operation_id: str) -> None:
        """Frees an Idempotency-Key whose start failed, if it still names that start's operation."""
        try:
            self._call(
                "delete_item",
                TableName=self.table_name,
                Key=marshal(start_key_key(cell, key.key_hash)),
                ConditionExpression="operationId = :id",
                ExpressionAttributeValues=marshal({":id": operation_id}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

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
            bool(latest and latest.get("id") == operation_id),
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
        names = {"#count": "count", "#completed": "completed", "#error": "error"}
        values: dict[str, Any] = {
            ":completed": outcome.completed,
            ":error": outcome.error,
            ":now": utc_now().isoformat(),
            ":id": operation.id,
        }
        expression = (
            "SET #count.#completed = #count.#completed + :completed, "
            "#count.#error = #count.#error + :error, updatedAt = :now"
        )
        if late:
            condition = "id = :id AND reconcilePending = :true"
            values[":true"] = True
        else:
            expression += ", heartbeatAt = :now"
            condition = "id = :id AND #step = :step AND valid = :valid"
            names["#step"] = "step"
            values |= {":step": operation.step.value, ":valid": True}
        key = latest_operation_key(operation.cell) if at_latest else earlier_operation_key(operation.cell, operation.id)
        update = self._transact_update(key, expression, condition, names, values)
        marker = {
            "Put": {
                "TableName": self.table_name,
                "Item": marshal(self._marker_item(operation.id, record_type, batch, outcome)),
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
        ended_early: bool = False,
        waiting_until: datetime | None = None,
        heartbeat: bool = False,
        stage_cursor: dict[str, Any] | None = None,
        forget_stage_cursor: bool = False,
        unchanged_since: datetime | None = None,
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
            "expiresAt": epoch(now + self.retention) if finishing else None,
            "activeShard": _ACTIVE_SHARD if (step in ACTIVE_STEPS and not finishing) or ended_early else None,
            "reconcilePending": True if ended_early else None,
            "waitingUntil": waiting_until and waiting_until.isoformat(),
        }
        values = {f":{name}": value for name, value in assignments.items() if value is not None}
        expressions = [f"#{name} = :{name}" for name, value in assignments.items() if value is not None]
        names = {f"#{name}": name for name, value in assignments.items() if value is not None}
        for count_name, value in (counts or {}).items():
            expressions.append(f"#count.#{count_name} = :count_{count_name}")
            names |= {"#count": "count", f"#{count_name}": count_name}
            values[f":count_{count_name}"] = value
        if settle_unprocessed:
            expressions.append(_ERRORS_ARE_THE_REST)
            names |= _COUNT_NAMES
        removed = (
            (["activeShard"] if finishing and not ended_early else [])
            + (["stageCursor"] if forget_stage_cursor else [])
            + (["waitingUntil"] if waiting_until is None and (heartbeat or finishing) else [])
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
                Key=marshal(latest_operation_key(operation.cell)),
                UpdateExpression="SET " + ", ".join(expressions) + removals,
                ConditionExpression=condition,
                ExpressionAttributeNames=names | {"#id": "id", "#valid_now": "valid", "#step_now": "step"},
                ExpressionAttributeValues=marshal(values | steps | {":id": operation.id, ":true": True}),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LatestChanged(operation.cell, exc.response.get("Item")) from exc
            raise
        return operation_from_item(unmarshal(response["Attributes"]))

    def settle_counts(self, cell: str, operation_id: str) -> None:
        """Counts every record of an operation that ended early and was never imported as an error
        (`error = total - completed`), once nothing can count anymore, and takes it out of the
        ActiveOperations index. Wherever it is stored (the latest, or archived by a newer import);
        conditional on `reconcilePending`, so a repeat changes nothing. One UpdateItem, two if
        archived."""
        for key in (latest_operation_key(cell), earlier_operation_key(cell, operation_id)):
            try:
                self._call(
                    "update_item",
                    TableName=self.table_name,
                    Key=marshal(key),
                    UpdateExpression=f"SET {_ERRORS_ARE_THE_REST}, updatedAt = :now "
                    "REMOVE activeShard, reconcilePending",
                    ConditionExpression="id = :id AND reconcilePending = :true",
                    ExpressionAttributeNames=_COUNT_NAMES,
                    ExpressionAttributeValues=marshal(
                        {":id": operation_id, ":true": True, ":now": utc_now().isoformat()}
                    ),
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
                Key=marshal(latest_operation_key(operation.cell)),
                UpdateExpression="SET " + move,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#count": "count", "#completed": "completed", "#error": "error"},
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
        (else LatestChanged)."""
        for start in range(0, len(records), 99):
            chunk = records[start : start + 99]
            # Only while the operation takes data (new or ready): an import.run that won the race
            # has already handed the counts to the worker.
            update = self._transact_update(
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

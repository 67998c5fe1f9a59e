"""Staged and failed records, and batch markers.

| item                 | PK                         | SK               |
|----------------------|----------------------------|------------------|
| staged record        | STAGE#<op>#<type>#<batch>  | <seq, 10 digits> |
| failed record        | STAGE#<op>#<type>#<batch>  | <seq, 10 digits> |
| batch counted marker | STAGE#<op>#<type>#<batch>  | ~counted         |

Records staged from a file live in S3 (bulk_import.dal.s3); the API's records, and every record
that failed (with its error), are staged items. The sparse `FailedRecords` index (failedOf,
failedKey) lists only failed records: `failedOf` is their operation id and a shard,
`<op>#<batch % 8>`, so an operation's errors are 8 Queries merged in type and line order, and a
failing import spreads its index writes over 8 partitions.

A batch's `~counted` marker holds its outcome (which records failed, and why): the marker, not an
index, is what counts, settles and retries read, always with strongly consistent reads. Staged
records and markers carry `expiresAt` (the table's TTL). The entries that imported records create
are in directory_items.py.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum, StrEnum
from typing import Any

from bulk_import.concurrency import map_all
from bulk_import.dal.dynamodb.attributes import ExpressionNames, KeyAttribute
from bulk_import.dal.dynamodb.table import REQUESTS, Page, Table, epoch, marshal, plain, unmarshal
from bulk_import.domain.operation import utc_now
from bulk_import.domain.records.staged import StagedRecord

FAILED_INDEX = "FailedRecords"
#: Staged records expire this long after the retention period counted from staging, so that the
#: errors of an import that runs for up to this long outlive its operation record.
STAGING_GRACE = timedelta(days=30)
#: Record types in the order they are imported; the failed-records index sorts by it.
_TYPE_ORDER = {"user": 0, "channel": 1, "message": 2}
#: The FailedRecords index's partitions per operation: a hot import writes its errors to 8 keys.
FAILED_SHARDS = 8
_MARKER = "~counted"


class RecordAttribute(StrEnum):
    """A staged record's attributes; a failed record also has FAILURE_ATTRIBUTES."""

    TYPE = "type"
    SEQ = "seq"
    DATA = "data"
    SOURCE = "source"
    PROBLEM = "problem"
    EXPIRES_AT = "expiresAt"
    ERROR = "error"
    ERROR_CODE = "errorCode"
    FAILED_OF = "failedOf"  # the FailedRecords index's partition key
    FAILED_KEY = "failedKey"  # and its sort key


#: What only a failed record has: its error, and the keys that put it in the sparse FailedRecords index.
FAILURE_ATTRIBUTES = frozenset(
    {RecordAttribute.ERROR, RecordAttribute.ERROR_CODE, RecordAttribute.FAILED_OF, RecordAttribute.FAILED_KEY}
)


class MarkerAttribute(StrEnum):
    """A batch marker's attributes."""

    COMPLETED = "completed"
    ERROR = "error"
    FAILED = "failed"  # a list of maps, FailedEntryAttribute
    EXPIRES_AT = "expiresAt"


class FailedEntryAttribute(StrEnum):
    """One record a batch did not import, in its marker's `failed` list."""

    SEQ = "seq"
    CODE = "code"
    MESSAGE = "message"


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


def _staged_partition(operation_id: str, record_type: str, batch: int) -> str:
    # One partition per batch: a batch is one Query, and staging 10M records spreads over 200k keys.
    return f"STAGE#{operation_id}#{record_type}#{batch:08d}"


def staged_record_key(operation_id: str, record: StagedRecord) -> dict[str, str]:
    return {
        KeyAttribute.PK: _staged_partition(operation_id, record.type, record.batch),
        KeyAttribute.SK: f"{record.seq:010d}",
    }


def batch_marker_key(operation_id: str, record_type: str, batch: int) -> dict[str, str]:
    return {KeyAttribute.PK: _staged_partition(operation_id, record_type, batch), KeyAttribute.SK: _MARKER}


def outcomes_in(
    found: dict[tuple[str, ...], dict[str, Any]], operation_id: str, record_type: str, batches: Sequence[int]
) -> dict[int, BatchOutcome]:
    """The outcome of each of `batches` whose marker is among the items a BatchGetItem found."""
    return {
        batch: outcome_from_item(item)
        for batch in batches
        if (item := found.get(tuple(batch_marker_key(operation_id, record_type, batch).values())))
    }


def failed_shard(operation_id: str, batch: int) -> str:
    return f"{operation_id}#{batch % FAILED_SHARDS}"


class RecordItems(Table):
    """Staged and failed records, and batch markers."""

    def batch_outcomes(self, operation_id: str, record_type: str, batches: Sequence[int]) -> dict[int, BatchOutcome]:
        """The outcome of each of `batches` that was counted (its marker; one BatchGetItem per 100)."""
        found = self._batch_get([batch_marker_key(operation_id, record_type, batch) for batch in batches])
        return outcomes_in(found, operation_id, record_type, batches)

    def failed_records(
        self, operation_id: str, limit: int, start_key: dict[str, Any] | None = None
    ) -> Page[StagedRecord]:
        """A page of the records of an operation that failed, users first, in line order: one Query
        per shard of the FailedRecords index (at once), merged. The page's key is the last record's
        `failedKey`: every shard resumes after it."""
        names = ExpressionNames()
        condition, values = f"{names(RecordAttribute.FAILED_OF)} = :shard", {}
        if start_key is not None:
            condition += f" AND {names(RecordAttribute.FAILED_KEY)} > :after"
            values = {":after": start_key[RecordAttribute.FAILED_KEY]}

        def shard_page(shard: int) -> tuple[list[dict[str, Any]], bool]:
            response = self._call(
                "query",
                TableName=self.table_name,
                IndexName=FAILED_INDEX,
                KeyConditionExpression=condition,
                Limit=limit,
                ExpressionAttributeNames=names.names,
                ExpressionAttributeValues=marshal(values | {":shard": f"{operation_id}#{shard}"}),
            )
            return [unmarshal(raw) for raw in response["Items"]], "LastEvaluatedKey" in response

        shards = map_all(REQUESTS, shard_page, range(FAILED_SHARDS))
        merged = list(heapq.merge(*(items for items, _ in shards), key=lambda item: item[RecordAttribute.FAILED_KEY]))
        page = merged[:limit]
        more = len(merged) > limit or any(truncated for _, truncated in shards)
        next_key = (
            {
                RecordAttribute.FAILED_OF.value: operation_id,
                RecordAttribute.FAILED_KEY.value: page[-1][RecordAttribute.FAILED_KEY],
            }
            if more and page
            else None
        )
        return Page(items=[staged_record_from_item(item) for item in page], next_key=next_key)

    def put_failed_records(self, operation_id: str, records: list[StagedRecord]) -> None:
        """Keeps records that failed, with their error, where the errors API pages them (the
        FailedRecords index): 25 per BatchWriteItem; writing one again is harmless."""
        requests = [{"PutRequest": {"Item": marshal(self._staged_item(operation_id, record))}} for record in records]
        self._batch_write(requests)

    def api_records(self, operation_id: str, record_type: str, batch: int) -> list[StagedRecord]:
        """The records Rocket.Chat's import.addUsers staged for one batch (one Query)."""
        names = ExpressionNames()
        response = self._call(
            "query",
            TableName=self.table_name,
            KeyConditionExpression=f"{names(KeyAttribute.PK)} = :pk AND {names(KeyAttribute.SK)} < :marker",
            ExpressionAttributeNames=names.names,
            ExpressionAttributeValues=marshal(
                # Every seq sorts before the marker's "~": the batch's records, not its marker.
                {":pk": _staged_partition(operation_id, record_type, batch), ":marker": "~"}
            ),
            ConsistentRead=True,
        )
        return [staged_record_from_item(unmarshal(raw)) for raw in response["Items"]]

    def put_batch_outcome(self, operation_id: str, record_type: str, batch: int, outcome: BatchOutcome) -> None:
        """Records a batch's outcome without counting it: for sample operations (bulk-import demo)."""
        self._call(
            "put_item",
            TableName=self.table_name,
            Item=marshal(self._marker_item(operation_id, record_type, batch, outcome)),
        )

    def _marker_item(self, operation_id: str, record_type: str, batch: int, outcome: BatchOutcome) -> dict[str, Any]:
        return {
            **batch_marker_key(operation_id, record_type, batch),
            **outcome_to_item(outcome),
            MarkerAttribute.EXPIRES_AT: self._staged_expiry(),
        }

    def _staged_expiry(self) -> int:
        return epoch(utc_now() + self.retention + STAGING_GRACE)

    def _staged_item(self, operation_id: str, record: StagedRecord) -> dict[str, Any]:
        return {
            **staged_record_key(operation_id, record),
            **staged_record_to_item(operation_id, record),
            RecordAttribute.EXPIRES_AT: self._staged_expiry(),
        }


def staged_record_to_item(operation_id: str, record: StagedRecord) -> dict[str, Any]:
    """A staged or failed record's attributes, but its expiry (the store's retention decides it)."""
    item: dict[str, Any] = {
        RecordAttribute.TYPE: record.type,
        RecordAttribute.SEQ: record.seq,
        RecordAttribute.DATA: record.data,
        RecordAttribute.SOURCE: record.source,
    }
    if record.problem is not None:
        item[RecordAttribute.PROBLEM] = record.problem
    if record.error is not None:
        # The sparse FailedRecords index lists exactly the records that carry these.
        item |= {
            RecordAttribute.ERROR: record.error,
            RecordAttribute.ERROR_CODE: record.error_code or "record-failed",
            RecordAttribute.FAILED_OF: failed_shard(operation_id, record.batch),
            RecordAttribute.FAILED_KEY: f"{_TYPE_ORDER[record.type]}#{record.seq:010d}",
        }
    return item


def staged_record_from_item(item: dict[str, Any]) -> StagedRecord:
    return StagedRecord(
        type=item[RecordAttribute.TYPE],
        seq=int(item[RecordAttribute.SEQ]),
        data=plain(item[RecordAttribute.DATA]),
        source=item[RecordAttribute.SOURCE],
        error=item.get(RecordAttribute.ERROR),
        error_code=item.get(RecordAttribute.ERROR_CODE),
        problem=item.get(RecordAttribute.PROBLEM),
    )


def outcome_to_item(outcome: BatchOutcome) -> dict[str, Any]:
    return {
        MarkerAttribute.COMPLETED: outcome.completed,
        MarkerAttribute.ERROR: outcome.error,
        MarkerAttribute.FAILED: [
            {FailedEntryAttribute.SEQ: seq, FailedEntryAttribute.CODE: code, FailedEntryAttribute.MESSAGE: message}
            for seq, (code, message) in sorted(outcome.failed.items())
        ],
    }


def outcome_from_item(item: dict[str, Any]) -> BatchOutcome:
    return BatchOutcome(
        completed=int(item[MarkerAttribute.COMPLETED]),
        failed={
            int(entry[FailedEntryAttribute.SEQ]): (
                entry[FailedEntryAttribute.CODE],
                entry[FailedEntryAttribute.MESSAGE],
            )
            for entry in item.get(MarkerAttribute.FAILED, [])
        },
    )

"""Staged and failed records, batch markers, and the entries imports created.

| item                 | PK                                        | SK               |
|----------------------|-------------------------------------------|------------------|
| staged record        | STAGE#<op>#<type>#<batch>                 | <seq, 10 digits> |
| batch counted marker | STAGE#<op>#<type>#<batch>                 | ~counted         |
| imported user        | USER#<cell>#<username>                    | USER             |
| imported channel     | CHANNEL#<cell>#<name>                     | CHANNEL          |
| imported message     | MESSAGE#<cell>#<channel>#<ts>#<op>#<seq>  | MESSAGE          |

Records staged from a file live in S3 (bulk_import.dal.s3); the API's records, and every record
that failed (with its error), are staged items. The sparse `FailedRecords` index (failedOf,
failedKey) lists only failed records: `failedOf` is their operation id and a shard,
`<op>#<batch % 8>`, so an operation's errors are 8 Queries merged in type and line order, and a
failing import spreads its index writes over 8 partitions.

A batch's `~counted` marker holds its outcome (which records failed, and why): the marker, not an
index, is what counts, settles and retries read, always with strongly consistent reads. Staged
records and markers carry `expiresAt` (the table's TTL).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from bulk_import.concurrency import map_all
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
#: Entries are created by PartiQL INSERTs, which fail on an item that exists (DuplicateItem), at the
#: write units of PutItems: 25 to a BatchExecuteStatement (its limit), two requests for a batch where a
#: PutItem per record cost most of the batch function's CPU time (docs/benchmarks.md).
INSERTS_PER_REQUEST = 25


@dataclass(frozen=True)
class DirectoryEntry:
    """The entry an imported record creates: which one (kind, identity), its data, and the record
    that creates it (its reference, to recognise a retry)."""

    kind: str
    identity: str
    data: dict[str, Any]
    reference: str

    def item(self, cell: str) -> dict[str, Any]:
        """The entry as the table holds it."""
        return {**directory_key(cell, self.kind, self.identity), "data": self.data, "importedFrom": self.reference}


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
    return {"PK": _staged_partition(operation_id, record.type, record.batch), "SK": f"{record.seq:010d}"}


def batch_marker_key(operation_id: str, record_type: str, batch: int) -> dict[str, str]:
    return {"PK": _staged_partition(operation_id, record_type, batch), "SK": "~counted"}


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


def directory_key(cell: str, kind: str, identity: str) -> dict[str, str]:
    """Where an imported user, channel or message lives; identity is unique per cell and kind."""
    return {"PK": f"{kind.upper()}#{cell}#{identity}", "SK": kind.upper()}


class RecordItems(Table):
    """Staged and failed records, batch markers and imported entries."""

    def batch_outcomes(self, operation_id: str, record_type: str, batches: Sequence[int]) -> dict[int, BatchOutcome]:
        """The outcome of each of `batches` that was counted (its marker; one BatchGetItem per 100)."""
        found = self._batch_get([batch_marker_key(operation_id, record_type, batch) for batch in batches])
        return outcomes_in(found, operation_id, record_type, batches)

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
                ExpressionAttributeValues=marshal(values | {":shard": f"{operation_id}#{shard}"}),
            )
            return [unmarshal(raw) for raw in response["Items"]], "LastEvaluatedKey" in response

        shards = map_all(REQUESTS, shard_page, range(FAILED_SHARDS))
        merged = list(heapq.merge(*(items for items, _ in shards), key=lambda item: item["failedKey"]))
        page = merged[:limit]
        more = len(merged) > limit or any(truncated for _, truncated in shards)
        next_key = {"failedOf": operation_id, "failedKey": page[-1]["failedKey"]} if more and page else None
        return Page(items=[_staged_record_from_item(item) for item in page], next_key=next_key)

    def put_failed_records(self, operation_id: str, records: list[StagedRecord]) -> None:
        """Keeps records that failed, with their error, where the errors API pages them (the
        FailedRecords index): 25 per BatchWriteItem; writing one again is harmless."""
        requests = [{"PutRequest": {"Item": marshal(self._staged_item(operation_id, record))}} for record in records]
        self._batch_write(requests)

    def api_records(self, operation_id: str, record_type: str, batch: int) -> list[StagedRecord]:
        """The records Rocket.Chat's import.addUsers staged for one batch (one Query)."""
        response = self._call(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND SK < :marker",
            ExpressionAttributeValues=marshal(
                {":pk": _staged_partition(operation_id, record_type, batch), ":marker": "~"}
            ),
            ConsistentRead=True,
        )
        return [_staged_record_from_item(unmarshal(raw)) for raw in response["Items"]]

    def insert_directory_entries(self, cell: str, entries: Sequence[DirectoryEntry]) -> list[bool]:
        """Creates imported entries: for each, True if it exists now and this same record created
        it (now, or in an attempt before: a retry), False if another's entry was there.

        INSERTs, INSERTS_PER_REQUEST to a BatchExecuteStatement, the requests at once; an entry
        whose key an earlier one of `entries` has goes in a later round, so that no request names
        a key twice and the first record of a key is the one that can create it. The entries an
        INSERT found existing are read (one strongly consistent BatchGetItem) to tell the record's
        own from another's."""
        created = [False] * len(entries)
        for indexes in _rounds([(entry.kind, entry.identity) for entry in entries]):
            chunks = [
                indexes[start : start + INSERTS_PER_REQUEST] for start in range(0, len(indexes), INSERTS_PER_REQUEST)
            ]
            answers = map_all(REQUESTS, lambda chunk: self._insert(cell, [entries[index] for index in chunk]), chunks)
            for chunk, chunk_answers in zip(chunks, answers, strict=True):
                for index, answer in zip(chunk, chunk_answers, strict=True):
                    created[index] = answer
        return created

    def _insert(self, cell: str, entries: list[DirectoryEntry]) -> list[bool]:
        """One BatchExecuteStatement of INSERTs (insert_directory_entries)."""
        errors = self._execute_statements([_insert_statement(self.table_name, entry.item(cell)) for entry in entries])
        for error in errors:
            if error is not None and error.get("Code") != "DuplicateItem":
                raise ClientError(
                    {"Error": {"Code": error["Code"], "Message": error.get("Message", "")}}, "BatchExecuteStatement"
                )
        existing = [
            (entry.kind, entry.identity, entry.reference) for entry, error in zip(entries, errors, strict=True) if error
        ]
        own = self.own_entries(cell, existing) if existing else set()
        return [error is None or entry.reference in own for entry, error in zip(entries, errors, strict=True)]

    def delete_directory_entry(self, cell: str, kind: str, identity: str, reference: str) -> None:
        """Undoes insert_directory_entries for an entry this record created; leaves anyone else's alone."""
        try:
            self._call(
                "delete_item",
                TableName=self.table_name,
                Key=marshal(directory_key(cell, kind, identity)),
                ConditionExpression="importedFrom = :reference",
                ExpressionAttributeValues=marshal({":reference": reference}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

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
            "expiresAt": self._staged_expiry(),
        }

    def _staged_expiry(self) -> int:
        return epoch(utc_now() + self.retention + STAGING_GRACE)

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


def outcome_to_item(outcome: BatchOutcome) -> dict[str, Any]:
    return {
        "completed": outcome.completed,
        "error": outcome.error,
        "failed": [
            {"seq": seq, "code": code, "message": message} for seq, (code, message) in sorted(outcome.failed.items())
        ],
    }


def outcome_from_item(item: dict[str, Any]) -> BatchOutcome:
    return BatchOutcome(
        completed=int(item["completed"]),
        failed={int(entry["seq"]): (entry["code"], entry["message"]) for entry in item.get("failed", [])},
    )


def _staged_record_from_item(item: dict[str, Any]) -> StagedRecord:
    return StagedRecord(
        type=item["type"],
        seq=int(item["seq"]),
        data=plain(item["data"]),
        source=item["source"],
        error=item.get("error"),
        error_code=item.get("errorCode"),
        problem=item.get("problem"),
    )


def _rounds(keys: Sequence[tuple[str, str]]) -> list[list[int]]:
    """The indexes of `keys` in rounds: the first of each key in the first round, its second in the
    second, and so on, each round in order."""
    rounds: list[list[int]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, key in enumerate(keys):
        occurrence = seen[key] = seen.get(key, -1) + 1
        if occurrence == len(rounds):
            rounds.append([])
        rounds[occurrence].append(index)
    return rounds


def _insert_statement(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A PartiQL INSERT of `item`, its values as parameters."""
    names = ", ".join(f"'{name}': ?" for name in item)
    return {"Statement": f'INSERT INTO "{table_name}" VALUE {{{names}}}', "Parameters": list(marshal(item).values())}

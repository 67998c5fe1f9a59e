"""The entries imports create: the imported users, channels and messages.

| item             | PK                                        | SK      |
|------------------|-------------------------------------------|---------|
| imported user    | USER#<cell>#<username>                    | USER    |
| imported channel | CHANNEL#<cell>#<name>                     | CHANNEL |
| imported message | MESSAGE#<cell>#<channel>#<ts>#<op>#<seq>  | MESSAGE |

One partition per entry: its identity is unique per cell and kind, and a PartiQL INSERT fails on an
entry that exists, so two records of one identity cannot both create it. Each entry remembers the
record that created it (`importedFrom`), so that a retry of that record recognises its own entry.

An entry that leaves downloads (domain/downloads.py: a message's files, a user's avatar) is created
with the indexes of those downloads (`pendingDownloads`, a number set) and the key `pending`,
`<cell>#<kind>#<shard>`, that puts it in the sparse `PendingDownloads` index (KEYS_ONLY and
`pendingDownloads`): downloadPendingFiles counts and walks an index that holds only what is left to
download, over PENDING_SHARDS partitions per cell and kind, so an import's index writes spread over
them. A download done is recorded in `downloads` (its index -> the object's key and the record that
stored it), in the same conditional write that takes its index out of `pendingDownloads`, and the
entry's last one takes it out of the index.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from bulk_import.concurrency import map_all
from bulk_import.dal.dynamodb.attributes import ExpressionNames, KeyAttribute
from bulk_import.dal.dynamodb.table import REQUESTS, Page, Table, marshal, plain, unmarshal

#: Entries are created by PartiQL INSERTs, which fail on an item that exists (DuplicateItem), at the
#: write units of PutItems: 25 to a BatchExecuteStatement (its limit), two requests for a batch where a
#: PutItem per record cost most of the batch function's CPU time (docs/benchmarks.md).
INSERTS_PER_REQUEST = 25


class DirectoryAttribute(StrEnum):
    """An imported entry's attributes, whatever its kind."""

    DATA = "data"
    IMPORTED_FROM = "importedFrom"  # the reference of the record that created it
    PENDING = "pending"  # the PendingDownloads index's partition key, while a download is left
    PENDING_DOWNLOADS = "pendingDownloads"  # the indexes of the downloads left (a number set)
    DOWNLOADS = "downloads"  # the downloads done: index -> StoredAttribute


class StoredAttribute(StrEnum):
    """A download done, in its entry's `downloads` map."""

    KEY = "key"  # the object's key in the bucket
    BY = "by"  # the reference of the record that stored it


PENDING_INDEX = "PendingDownloads"
#: The index's partitions per cell and kind: an import of a million messages with files writes its
#: index entries to 16 keys, and downloadPendingFiles reads them at once.
PENDING_SHARDS = 16


@dataclass(frozen=True)
class DirectoryEntry:
    """The entry an imported record creates: which one (kind, identity), its data, and the record
    that creates it (its reference, to recognise a retry)."""

    kind: str
    identity: str
    data: dict[str, Any]
    reference: str
    #: How many downloads it leaves (domain/downloads.py), indexed from 0.
    downloads: int = 0

    def item(self, cell: str) -> dict[str, Any]:
        """The entry as the table holds it."""
        item: dict[str, Any] = {
            **directory_key(cell, self.kind, self.identity),
            DirectoryAttribute.DATA: self.data,
            DirectoryAttribute.IMPORTED_FROM: self.reference,
        }
        if self.downloads:
            item |= {
                DirectoryAttribute.PENDING: pending_partition(cell, self.kind, self.identity),
                DirectoryAttribute.PENDING_DOWNLOADS: set(range(self.downloads)),
                DirectoryAttribute.DOWNLOADS: {},
            }
        return item


@dataclass(frozen=True)
class StoredDownload:
    """A download done: where its object is, and which record stored it (to recognise a retry)."""

    key: str
    by: str


@dataclass(frozen=True)
class PendingEntry:
    """An entry with downloads, as read: its data, the downloads left and those done."""

    kind: str
    identity: str
    data: dict[str, Any]
    pending: frozenset[int]
    done: dict[int, StoredDownload] = field(default_factory=dict)


def pending_partition(cell: str, kind: str, identity: str) -> str:
    return f"{cell}#{kind}#{zlib.crc32(identity.encode()) % PENDING_SHARDS}"


def directory_key(cell: str, kind: str, identity: str) -> dict[str, str]:
    """Where an imported user, channel or message lives; identity is unique per cell and kind."""
    return {KeyAttribute.PK: f"{kind.upper()}#{cell}#{identity}", KeyAttribute.SK: kind.upper()}


def entry_of_key(pk: str) -> tuple[str, str]:
    """The kind and identity of the entry whose partition key is `pk`."""
    kind, _cell, identity = pk.split("#", 2)
    return kind.lower(), identity


def directory_entry_from_item(kind: str, identity: str, item: dict[str, Any]) -> DirectoryEntry:
    return DirectoryEntry(
        kind=kind,
        identity=identity,
        data=plain(item[DirectoryAttribute.DATA]),
        reference=item[DirectoryAttribute.IMPORTED_FROM],
        downloads=len(item.get(DirectoryAttribute.PENDING_DOWNLOADS, ()))
        + len(item.get(DirectoryAttribute.DOWNLOADS, {})),
    )


class DirectoryItems(Table):
    """The users, channels and messages imports created."""

    def directory_entries(self, cell: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], DirectoryEntry]:
        """Of (kind, identity) keys, the entries that exist, by key (one BatchGetItem per 100)."""
        found = self._batch_get([directory_key(cell, kind, identity) for kind, identity in keys])
        return {
            (kind, identity): directory_entry_from_item(kind, identity, item)
            for kind, identity in keys
            if (item := found.get(tuple(directory_key(cell, kind, identity).values())))
        }

    def own_entries(self, cell: str, entries: list[tuple[str, str, str]]) -> set[str]:
        """Of (kind, identity, reference) entries, the references whose entry exists and was created
        by that same record (one BatchGetItem per 100)."""
        found = self.directory_entries(cell, [(kind, identity) for kind, identity, _ in entries])
        return {
            reference
            for kind, identity, reference in entries
            if (entry := found.get((kind, identity))) and entry.reference == reference
        }

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
        self.delete_if(directory_key(cell, kind, identity), DirectoryAttribute.IMPORTED_FROM, reference)

    def count_pending_downloads(self, cell: str, kind: str) -> int:
        """How many downloads the cell's entries of `kind` leave, as the PendingDownloads index has
        them (its partitions read at once, a Query per MB of index entries each)."""

        def shard_count(shard: int) -> int:
            total, start = 0, None
            while True:
                page = self._pending_query(cell, kind, shard, start, limit=None)
                total += sum(len(indexes) for _, indexes in page.items)
                if page.next_key is None:
                    return total
                start = page.next_key

        return sum(map_all(REQUESTS, shard_count, range(PENDING_SHARDS)))

    def pending_downloads_page(
        self, cell: str, kind: str, shard: int, start_key: dict[str, Any] | None, limit: int
    ) -> Page[tuple[str, list[int]]]:
        """Up to `limit` entries of one partition of the index, from `start_key` (the page before
        it's `next_key`): each entry's identity and the indexes of the downloads it has left."""
        return self._pending_query(cell, kind, shard, start_key, limit)

    def _pending_query(
        self, cell: str, kind: str, shard: int, start_key: dict[str, Any] | None, limit: int | None
    ) -> Page[tuple[str, list[int]]]:
        names = ExpressionNames()
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": f"{names(DirectoryAttribute.PENDING)} = :partition",
            "ProjectionExpression": f"{names(KeyAttribute.PK)}, {names(DirectoryAttribute.PENDING_DOWNLOADS)}",
            "ExpressionAttributeNames": names.names,
            "ExpressionAttributeValues": marshal({":partition": f"{cell}#{kind}#{shard}"}),
        }
        if limit is not None:
            request["Limit"] = limit
        if start_key:
            request["ExclusiveStartKey"] = marshal(start_key)
        response = self._call("query", **request)
        items = [unmarshal(raw) for raw in response["Items"]]
        return Page(
            items=[
                (
                    entry_of_key(item[KeyAttribute.PK])[1],
                    sorted(int(index) for index in item.get(DirectoryAttribute.PENDING_DOWNLOADS, ())),
                )
                for item in items
            ],
            next_key=unmarshal(response["LastEvaluatedKey"]) if "LastEvaluatedKey" in response else None,
        )

    def pending_entries(self, cell: str, kind: str, identities: Sequence[str]) -> dict[str, PendingEntry]:
        """The entries of `identities` that exist, by identity, with their downloads (strongly
        consistent: one BatchGetItem per 100)."""
        found = self._batch_get([directory_key(cell, kind, identity) for identity in identities])
        entries = {}
        for identity in identities:
            item = found.get(tuple(directory_key(cell, kind, identity).values()))
            if item is not None:
                entries[identity] = PendingEntry(
                    kind=kind,
                    identity=identity,
                    data=plain(item[DirectoryAttribute.DATA]),
                    pending=frozenset(int(index) for index in item.get(DirectoryAttribute.PENDING_DOWNLOADS, ())),
                    done={
                        int(index): StoredDownload(stored[StoredAttribute.KEY], stored[StoredAttribute.BY])
                        for index, stored in item.get(DirectoryAttribute.DOWNLOADS, {}).items()
                    },
                )
        return entries

    def record_downloads(self, cell: str, entry: PendingEntry, done: dict[int, StoredDownload]) -> bool:
        """Records downloads of `entry` done (each still pending as read), in one conditional
        UpdateItem that takes their indexes out of the pending ones, and the entry out of the index
        with its last; False if the entry changed since it was read (another attempt recorded one)."""
        names = ExpressionNames()
        downloads, left = names(DirectoryAttribute.DOWNLOADS), names(DirectoryAttribute.PENDING_DOWNLOADS)
        values: dict[str, Any] = {":done": set(done), ":left": len(entry.pending)}
        sets, conditions = [], [f"size({left}) = :left"]
        for index, stored in done.items():
            names.names[f"#i{index}"] = str(index)
            sets.append(f"{downloads}.#i{index} = :d{index}")
            conditions.append(f"contains({left}, :i{index})")
            values |= {
                f":d{index}": {StoredAttribute.KEY: stored.key, StoredAttribute.BY: stored.by},
                f":i{index}": index,
            }
        expression = f"SET {', '.join(sets)} DELETE {left} :done"
        if set(done) == set(entry.pending):
            expression += f" REMOVE {names(DirectoryAttribute.PENDING)}"
        return self._update_if(
            directory_key(cell, entry.kind, entry.identity), expression, " AND ".join(conditions), names, values
        )

    def undo_download(self, cell: str, kind: str, identity: str, index: int, reference: str) -> None:
        """Puts a download back among the pending ones, if the record `reference` recorded it; leaves
        anyone else's alone."""
        names = ExpressionNames()
        names.names["#i"] = str(index)
        done = f"{names(DirectoryAttribute.DOWNLOADS)}.#i"
        self._update_if(
            directory_key(cell, kind, identity),
            f"REMOVE {done} SET {names(DirectoryAttribute.PENDING)} = :partition"
            f" ADD {names(DirectoryAttribute.PENDING_DOWNLOADS)} :index",
            f"{done}.{names(StoredAttribute.BY)} = :by",
            names,
            {":partition": pending_partition(cell, kind, identity), ":index": {index}, ":by": reference},
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

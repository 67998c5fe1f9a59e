"""The entries imports create: the imported users, channels and messages.

| item             | PK                                        | SK      |
|------------------|-------------------------------------------|---------|
| imported user    | USER#<cell>#<username>                    | USER    |
| imported channel | CHANNEL#<cell>#<name>                     | CHANNEL |
| imported message | MESSAGE#<cell>#<channel>#<ts>#<op>#<seq>  | MESSAGE |

One partition per entry: its identity is unique per cell and kind, and a PartiQL INSERT fails on an
entry that exists, so two records of one identity cannot both create it. Each entry remembers the
record that created it (`importedFrom`), so that a retry of that record recognises its own entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from bulk_import.concurrency import map_all
from bulk_import.dal.dynamodb.attributes import KeyAttribute
from bulk_import.dal.dynamodb.table import REQUESTS, Table, marshal, plain

#: Entries are created by PartiQL INSERTs, which fail on an item that exists (DuplicateItem), at the
#: write units of PutItems: 25 to a BatchExecuteStatement (its limit), two requests for a batch where a
#: PutItem per record cost most of the batch function's CPU time (docs/benchmarks.md).
INSERTS_PER_REQUEST = 25


class DirectoryAttribute(StrEnum):
    """An imported entry's attributes, whatever its kind."""

    DATA = "data"
    IMPORTED_FROM = "importedFrom"  # the reference of the record that created it


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
        return {
            **directory_key(cell, self.kind, self.identity),
            DirectoryAttribute.DATA: self.data,
            DirectoryAttribute.IMPORTED_FROM: self.reference,
        }


def directory_key(cell: str, kind: str, identity: str) -> dict[str, str]:
    """Where an imported user, channel or message lives; identity is unique per cell and kind."""
    return {KeyAttribute.PK: f"{kind.upper()}#{cell}#{identity}", KeyAttribute.SK: kind.upper()}


def directory_entry_from_item(kind: str, identity: str, item: dict[str, Any]) -> DirectoryEntry:
    return DirectoryEntry(
        kind=kind,
        identity=identity,
        data=plain(item[DirectoryAttribute.DATA]),
        reference=item[DirectoryAttribute.IMPORTED_FROM],
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

"""The records of a cell snapshot Personium's export wrote (readers/personium_snapshot.py): its
accounts, a user each (docs/decisions/0009-personium-cell-snapshots.md)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.lines import MalformedInput, SourceRecord, lines, records_of_lines
from bulk_import.readers.personium_snapshot import ACCOUNTS


def cell_snapshot_records(file: BinaryIO, name: str, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
    """The snapshot's accounts, a user each (its `Name` the username, its id kept in importIds),
    from `cursor` on. A line that is not an account Personium wrote fails alone."""
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise MalformedInput(name, None, f"not a valid zip file ({exc})") from exc
    if ACCOUNTS not in archive.namelist():
        raise MalformedInput(name, None, f"no {ACCOUNTS} in the snapshot")
    with archive.open(ACCOUNTS) as stream:
        yield from records_of_lines(lines(stream, cursor), ACCOUNTS, 0, account_record, lambda _: RecordType.USER)


def account_record(text: str) -> tuple[RecordType, dict[str, Any], str | None]:
    """A line of 11_account.pjson (`{"_index", "_type", "_id", "_source": {"s": {"Name": ...}}}`)
    as a user record, or why it cannot be one."""
    try:
        hit = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return RecordType.USER, {}, f"invalid JSON ({exc})"
    source = hit.get("_source") if isinstance(hit, dict) else None
    fields = source.get("s") if isinstance(source, dict) else None
    if not isinstance(fields, dict) or not isinstance(fields.get("Name"), str):
        return RecordType.USER, {}, "not an account: no _source.s.Name"
    identifier = hit.get("_id")
    return RecordType.USER, {"username": fields["Name"], "importIds": [identifier] if identifier else []}, None

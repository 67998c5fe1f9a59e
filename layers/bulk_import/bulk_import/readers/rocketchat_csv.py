"""Rocket.Chat's CSV importer zip: users.csv, channels.csv and one <channel>/messages.csv per
channel, read in that order (each type may only refer to earlier ones); .jsonl members after them."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.json_lines import json_record, json_type
from bulk_import.readers.lines import MalformedInput, SourceRecord, lines, records_of_lines

#: Rocket.Chat's CSV importer: file -> (record type, header).
CSV_FILES = {
    "users.csv": (RecordType.USER, ["username", "email", "name"]),
    "channels.csv": (RecordType.CHANNEL, ["name", "creator", "private", "members"]),
    "messages.csv": (RecordType.MESSAGE, ["username", "timestamp", "text"]),
}


def zip_records(file: BinaryIO, name: str, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise MalformedInput(name, None, f"not a valid zip file ({exc})") from exc
    members = _ordered_members(archive)
    if not members:
        raise MalformedInput(name, None, "no users.csv, channels.csv, messages.csv or .jsonl file in the zip")
    for index, member in enumerate(members):
        if cursor and index < cursor["member"]:
            continue
        member_cursor = cursor if cursor and index == cursor["member"] else None
        with archive.open(member) as stream:
            if member.endswith(".jsonl"):
                yield from records_of_lines(lines(stream, member_cursor), member, index, json_record, json_type)
            else:
                yield from csv_records(stream, member, index, member_cursor)


def _ordered_members(archive: zipfile.ZipFile) -> list[str]:
    """Users before channels before messages (each type may only refer to earlier ones), then
    JSON Lines members."""
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    messages = sorted(n for n in names if n.count("/") == 1 and n.endswith("/messages.csv"))
    return (
        [n for n in ("users.csv", "channels.csv") if n in names]
        + messages
        + sorted(n for n in names if n.endswith(".jsonl"))
    )


def csv_records(stream: IO[bytes], file: str, member: int, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
    record_type, header = CSV_FILES[file.rpartition("/")[2]]
    channel = file.partition("/")[0]
    head = lines(stream, None)
    first = next(head, None)
    fields = _csv_fields(first[2]) if first and isinstance(first[2], str) else None
    if not isinstance(fields, list) or [column.strip() for column in fields] != header:
        raise MalformedInput(file, 1, f"header must be {','.join(header)}")

    def parse(text: str) -> tuple[RecordType, dict, str | None]:
        fields = _csv_fields(text)
        if isinstance(fields, str):
            return record_type, {}, fields
        if len(fields) != len(header):
            return record_type, {}, f"expected {len(header)} columns, got {len(fields)}"
        return record_type, _csv_data(record_type, dict(zip(header, fields, strict=True)), channel), None

    yield from records_of_lines(
        lines(stream, cursor) if cursor is not None else head, file, member, parse, lambda head: record_type
    )


def _csv_fields(text: str) -> list[str] | str:
    """The line's fields, or why it is not CSV."""
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        return f"invalid CSV ({exc})"


def _csv_data(record_type: RecordType, row: dict[str, str], channel: str) -> dict[str, Any]:
    if record_type is RecordType.USER:
        data = {"username": row["username"], "emails": [row["email"]] if row["email"] else []}
        return data | ({"name": row["name"]} if row["name"] else {})
    if record_type is RecordType.MESSAGE:
        return {"channel": channel} | row
    return row

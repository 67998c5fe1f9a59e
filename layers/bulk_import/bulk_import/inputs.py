"""Streaming, resumable readers of import files: Rocket.Chat's CSV importer zip and JSON Lines.

Files are read line by line (never whole in memory) from a seekable binary file, so a 10-million-
record file takes the memory of one line. Every record carries a cursor, the position just after
it, from which reading resumes without parsing what came before. A file that cannot be read at
all (not a zip, no known member, a CSV header that is not the importer's) raises MalformedInput
naming the file and line: the operation fails. A line that cannot be read or kept (not JSON, not
UTF-8, the wrong number of CSV columns, larger than records.MAX_RECORD_BYTES) is the fault of that
one record: it comes as a record with a `problem`, fails alone when imported, and the lines after
it are read as usual. Nothing is skipped silently.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from bulk_import.errors import BulkImportError
from bulk_import.records import MAX_RECORD_BYTES, MAX_RECORD_DEPTH
from bulk_import.staged_records import RecordType

#: Rocket.Chat's CSV importer: file -> (record type, header).
CSV_FILES = {
    "users.csv": (RecordType.USER, ["username", "email", "name"]),
    "channels.csv": (RecordType.CHANNEL, ["name", "creator", "private", "members"]),
    "messages.csv": (RecordType.MESSAGE, ["username", "timestamp", "text"]),
}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: The type of a JSON line too large to parse, if it says so early; counted as a user otherwise.
_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"(user|channel|message)"')
_SKIP_CHUNK = 1024 * 1024


class MalformedInput(BulkImportError):
    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        super().__init__(f"{file} line {line}: {reason}" if line else f"{file}: {reason}")


@dataclass(frozen=True)
class SourceRecord:
    type: RecordType
    data: dict[str, Any]
    source: str  # "users.csv:12": file and line, for error reports
    cursor: dict[str, int]  # where the next record starts
    problem: str | None = None  # why the record cannot be kept as read (it fails alone)


@dataclass(frozen=True)
class _UnreadableLine:
    """A line that is not text or is too long to keep: why, and its start (to tell its type)."""

    problem: str
    head: bytes


def read_records(
    open_file: Callable[[], BinaryIO], cursor: dict[str, int] | None = None, name: str = "input"
) -> Iterator[SourceRecord]:
    """Every record of the file `open_file()` opens (a zip or JSON Lines), from `cursor` on."""
    with open_file() as file:
        is_zip = file.read(4) in _ZIP_MAGIC
        file.seek(0)
        if is_zip:
            yield from _zip_records(file, name, cursor)
        else:
            yield from _lines_records(_lines(file, cursor), name, 0, _json_record, _json_type)


def _zip_records(file: BinaryIO, name: str, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
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
                yield from _lines_records(_lines(stream, member_cursor), member, index, _json_record, _json_type)
            else:
                yield from _csv_records(stream, member, index, member_cursor)


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


def _lines(stream: IO[bytes], cursor: dict[str, int] | None) -> Iterator[tuple[int, int, str | _UnreadableLine]]:
    """(line number, offset after the line, text) of every non-blank line, from the cursor on. A line
    over MAX_RECORD_BYTES is read past, never held whole; it and a line that is not UTF-8 come as
    _UnreadableLine."""
    number, offset = (cursor["line"], cursor["offset"]) if cursor else (0, 0)
    stream.seek(offset)
    for raw in iter(lambda: stream.readline(MAX_RECORD_BYTES + 1), b""):
        number += 1
        offset += len(raw)
        if len(raw.rstrip(b"\r\n")) > MAX_RECORD_BYTES:
            head, size = raw, len(raw)
            while not raw.endswith(b"\n") and (raw := stream.readline(_SKIP_CHUNK)):
                size += len(raw)
                offset += len(raw)
            yield number, offset, _UnreadableLine(f"too large: {size:,} bytes (at most {MAX_RECORD_BYTES:,})", head)
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield number, offset, _UnreadableLine("not UTF-8 text", raw)
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip():
            yield number, offset, text


def _lines_records(
    lines: Iterator[tuple[int, int, str | _UnreadableLine]],
    file: str,
    member: int,
    parse: Callable[[str], tuple[RecordType, dict, str | None]],
    unreadable_type: Callable[[bytes], RecordType],
) -> Iterator[SourceRecord]:
    for number, offset, text in lines:
        position = {"member": member, "offset": offset, "line": number}
        record_type, data, problem = (
            (unreadable_type(text.head), {}, text.problem) if isinstance(text, _UnreadableLine) else parse(text)
        )
        yield SourceRecord(record_type, data, f"{file}:{number}", position, problem)


def _json_type(head: bytes) -> RecordType:
    found = _TYPE_FIELD.search(head)
    return RecordType(found.group(1).decode()) if found else RecordType.USER


def _json_record(text: str) -> tuple[RecordType, dict, str | None]:
    """The line's record type and data, and why it cannot be kept if it cannot (its type then
    guessed from the text: a user unless it says otherwise)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return _json_type(text.encode()), {}, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:  # valid JSON nested beyond what any store keeps
        return _json_type(text.encode()), {}, f"nested too deep (at most {MAX_RECORD_DEPTH} levels)"
    if not isinstance(value, dict):
        return RecordType.USER, {}, "expected a JSON object"
    kind = value.pop("type", None)
    if kind not in {t.value for t in RecordType}:
        return RecordType.USER, {}, f"type must be user, channel or message, not {kind!r}"
    return RecordType(kind), value, None


def _csv_records(stream: IO[bytes], file: str, member: int, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
    record_type, header = CSV_FILES[file.rpartition("/")[2]]
    channel = file.partition("/")[0]
    lines = _lines(stream, None)
    first = next(lines, None)
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

    yield from _lines_records(
        _lines(stream, cursor) if cursor is not None else lines, file, member, parse, lambda head: record_type
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

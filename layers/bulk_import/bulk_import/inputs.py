"""Streaming, resumable readers of import files: Rocket.Chat's CSV importer zip and JSON Lines.

Files are read line by line (never whole in memory) from a seekable binary file, so a 10-million-
record file takes the memory of one line. Every record carries a cursor, the position just after
it, from which reading resumes without parsing what came before. A file that cannot be read
raises MalformedInput naming the file and line: the operation fails, nothing is skipped silently.
A line that can be read but not kept (larger than records.MAX_RECORD_BYTES) is the fault of that
one record: it comes as a record with a `problem`, and fails alone when imported.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator

from bulk_import.errors import BulkImportError
from bulk_import.records import MAX_RECORD_BYTES, MAX_RECORD_DEPTH, RecordType

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
class _Oversize:
    """A line longer than MAX_RECORD_BYTES: its length, and its start (to tell its type)."""

    size: int
    head: bytes

    @property
    def problem(self) -> str:
        return f"too large: {self.size:,} bytes (at most {MAX_RECORD_BYTES:,})"


def read_records(open_file: Callable[[], BinaryIO], cursor: dict[str, int] | None = None,
                 name: str = "input") -> Iterator[SourceRecord]:
    """Every record of the file `open_file()` opens (a zip or JSON Lines), from `cursor` on."""
    with open_file() as file:
        is_zip = file.read(4) in _ZIP_MAGIC
        file.seek(0)
        if is_zip:
            yield from _zip_records(file, name, cursor)
        else:
            yield from _lines_records(file, name, 0, cursor, _json_record, _json_type)


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
                yield from _lines_records(stream, member, index, member_cursor, _json_record, _json_type)
            else:
                yield from _csv_records(stream, member, index, member_cursor)


def _ordered_members(archive: zipfile.ZipFile) -> list[str]:
    """Users before channels before messages (each type may only refer to earlier ones), then
    JSON Lines members."""
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    messages = sorted(n for n in names if n.count("/") == 1 and n.endswith("/messages.csv"))
    return ([n for n in ("users.csv", "channels.csv") if n in names] + messages
            + sorted(n for n in names if n.endswith(".jsonl")))


def _lines(stream: BinaryIO, file: str, cursor: dict[str, int] | None
           ) -> Iterator[tuple[int, int, str | _Oversize]]:
    """(line number, offset after the line, text) of every non-blank line, from the cursor on. A line
    over MAX_RECORD_BYTES is read past, never held whole, and comes as _Oversize."""
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
            yield number, offset, _Oversize(size, head)
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise MalformedInput(file, number, "not UTF-8 text") from exc
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip():
            yield number, offset, text


def _lines_records(stream: BinaryIO, file: str, member: int, cursor: dict[str, int] | None,
                   parse: Callable[[str, str, int], tuple[RecordType, dict, str | None]],
                   oversize_type: Callable[[bytes], RecordType]) -> Iterator[SourceRecord]:
    for number, offset, text in _lines(stream, file, cursor):
        position = {"member": member, "offset": offset, "line": number}
        if isinstance(text, _Oversize):
            yield SourceRecord(oversize_type(text.head), {}, f"{file}:{number}", position, text.problem)
            continue
        record_type, data, problem = parse(text, file, number)
        yield SourceRecord(record_type, data, f"{file}:{number}", position, problem)


def _json_type(head: bytes) -> RecordType:
    found = _TYPE_FIELD.search(head)
    return RecordType(found.group(1).decode()) if found else RecordType.USER


def _json_record(text: str, file: str, number: int) -> tuple[RecordType, dict, str | None]:
    """The line's record type and data, and why it cannot be kept if it cannot."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedInput(file, number, f"invalid JSON ({exc.msg})") from exc
    except RecursionError:  # valid JSON nested beyond what any store keeps: this record fails alone
        return _json_type(text.encode()), {}, f"nested too deep (at most {MAX_RECORD_DEPTH} levels)"
    if not isinstance(value, dict):
        raise MalformedInput(file, number, "expected a JSON object")
    kind = value.pop("type", None)
    if kind not in {t.value for t in RecordType}:
        raise MalformedInput(file, number, f"type must be user, channel or message, not {kind!r}")
    return RecordType(kind), value, None


def _csv_records(stream: BinaryIO, file: str, member: int, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
    record_type, header = CSV_FILES[file.rpartition("/")[2]]
    channel = file.partition("/")[0]
    lines = _lines(stream, file, None)
    first = next(lines, None)
    columns = [column.strip() for column in _csv_fields(first[2], file, 1)] \
        if first and isinstance(first[2], str) else []
    if columns != header:
        raise MalformedInput(file, 1, f"header must be {','.join(header)}")
    if cursor is not None:
        lines = _lines(stream, file, cursor)
    for number, offset, text in lines:
        position = {"member": member, "offset": offset, "line": number}
        if isinstance(text, _Oversize):
            yield SourceRecord(record_type, {}, f"{file}:{number}", position, text.problem)
            continue
        fields = _csv_fields(text, file, number)
        if len(fields) != len(header):
            raise MalformedInput(file, number, f"expected {len(header)} columns, got {len(fields)}")
        row = dict(zip(header, fields))
        yield SourceRecord(record_type, _csv_data(record_type, row, channel), f"{file}:{number}", position)


def _csv_fields(text: str, file: str, number: int) -> list[str]:
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise MalformedInput(file, number, f"invalid CSV ({exc})") from exc


def _csv_data(record_type: RecordType, row: dict[str, str], channel: str) -> dict[str, Any]:
    if record_type is RecordType.USER:
        data = {"username": row["username"], "emails": [row["email"]] if row["email"] else []}
        return data | ({"name": row["name"]} if row["name"] else {})
    if record_type is RecordType.MESSAGE:
        return {"channel": channel} | row
    return row

"""Reading an import file line by line, resumably: what every reader shares.

Files are read line by line (never whole in memory) from a seekable binary file, so a 10-million-
record file takes the memory of one line. Every record carries a cursor, the position just after
it, from which reading resumes without parsing what came before. A file that cannot be read at
all (not a zip, no known member, a CSV header that is not the importer's) raises MalformedInput
naming the file and line: the operation fails. A line that cannot be read or kept (not JSON, not
UTF-8, the wrong number of CSV columns, larger than MAX_RECORD_BYTES) is the fault of that
one record: it comes as a record with a `problem`, fails alone when imported, and the lines after
it are read as usual. Nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.records.schema import MAX_RECORD_BYTES
from bulk_import.domain.records.staged import RecordType

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
class UnreadableLine:
    """A line that is not text or is too long to keep: why, and its start (to tell its type)."""

    problem: str
    head: bytes


def lines(stream: IO[bytes], cursor: dict[str, int] | None) -> Iterator[tuple[int, int, str | UnreadableLine]]:
    """(line number, offset after the line, text) of every non-blank line, from the cursor on. A line
    over MAX_RECORD_BYTES is read past, never held whole; it and a line that is not UTF-8 come as
    UnreadableLine."""
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
            yield number, offset, UnreadableLine(f"too large: {size:,} bytes (at most {MAX_RECORD_BYTES:,})", head)
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield number, offset, UnreadableLine("not UTF-8 text", raw)
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip():
            yield number, offset, text


def records_of_lines(
    lines: Iterator[tuple[int, int, str | UnreadableLine]],
    file: str,
    member: int,
    parse: Callable[[str], tuple[RecordType, dict, str | None]],
    unreadable_type: Callable[[bytes], RecordType],
) -> Iterator[SourceRecord]:
    for number, offset, text in lines:
        position = {"member": member, "offset": offset, "line": number}
        record_type, data, problem = (
            (unreadable_type(text.head), {}, text.problem) if isinstance(text, UnreadableLine) else parse(text)
        )
        yield SourceRecord(record_type, data, f"{file}:{number}", position, problem)

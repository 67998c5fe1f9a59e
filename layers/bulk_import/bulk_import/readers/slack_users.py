"""Slack's users CSV (Workspace settings → Export member list), read as Rocket.Chat's "slack-users"
importer reads it.

Columns by position (Slack's header: username,email,status,billing-active,has-2fa,has-sso,userid,
fullname,displayname,expiration-timestamp). Row 0 is skipped whatever it holds; a row without an email
is skipped and not counted (Rocket.Chat skips it); every other row is one user record:
{emails: [email], importIds: [email], username, name: fullname || displayname || username, type: "user"},
with roles ["admin"] for status Admin, roles ["bot"] and type "bot" for Bot, deleted true for Deactivated.

The file is read line by line (lines.lines), never whole. A quoted field may hold line breaks: a row
then spans several lines, joined with "\\n" (a "\\r\\n" inside a field reads as "\\n", and a blank line
inside one as an empty line). A row that is not CSV, has another number of columns than row 0, or is
still open after MAX_RECORD_BYTES is a record with a problem (Rocket.Chat's parser would reject the whole
file). Every record's cursor is {"member": 0, "offset": byte offset after the row's last line,
"line": that line's number}, from which reading resumes at the next row.

A file read from the start that gives no user with an email raises MalformedInput: Rocket.Chat ends
such an import in error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

from bulk_import.domain.records.schema import MAX_RECORD_BYTES, record_problem
from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.lines import MalformedInput, SourceRecord, UnreadableLine, lines

#: How Slack's export starts (its header's first four columns): the /v1 API, which names no importer,
#: tells this format by it (readers/by_format.py).
SLACK_USERS_HEADER = b"username,email,status,billing-active"


def slack_user_records(file: BinaryIO, name: str, cursor: dict[str, int] | None) -> Iterator[SourceRecord]:
    """Every user of the CSV after `cursor` (see the module)."""
    header = next(_rows(file, None), None)
    columns = len(header[3]) if header and isinstance(header[3], list) else None
    users = 0
    rows = _rows(file, cursor) if cursor else _rows(file, None)
    if cursor is None:
        next(rows, None)  # row 0, whatever it holds
    for first_line, last_line, offset, row in rows:
        position = {"member": 0, "offset": offset, "line": last_line}
        source = f"{name}:{first_line}"
        if isinstance(row, str):
            yield SourceRecord(RecordType.USER, {}, source, position, row)
            continue
        if columns is not None and len(row) != columns:
            wrong = f"expected {columns} columns as in row 0, got {len(row)}"
            yield SourceRecord(RecordType.USER, {}, source, position, wrong)
            continue
        if len(row) < 2 or not row[1]:
            continue  # no email: Rocket.Chat skips the row and does not count it
        data = _user(row)
        problem = record_problem(data)
        users += problem is None
        yield SourceRecord(RecordType.USER, data, source, position, problem)
    if cursor is None and not users:
        raise MalformedInput(name, None, "no users with an email")


def _user(row: list[str]) -> dict[str, Any]:
    username, email, status = row[0], row[1], row[2] if len(row) > 2 else None
    fullname, displayname = (row[7] if len(row) > 7 else ""), (row[8] if len(row) > 8 else "")
    data: dict[str, Any] = {
        "emails": [email],
        "importIds": [email],
        "username": username,
        "name": fullname or displayname or username,
        "type": "user",
    }
    if status == "Admin":
        data["roles"] = ["admin"]
    elif status == "Bot":
        data |= {"roles": ["bot"], "type": "bot"}
    elif status == "Deactivated":
        data["deleted"] = True
    return data


def _rows(stream: IO[bytes], cursor: dict[str, int] | None) -> Iterator[tuple[int, int, int, list[str] | str]]:
    """(first line, last line, offset after it, fields or why the row cannot be read) of every row from
    the cursor on, a row spanning the lines its quoted fields hold."""
    pending: list[str] = []
    first = previous = 0
    size = 0
    for number, offset, text in lines(stream, cursor):
        if isinstance(text, UnreadableLine):
            if pending:
                yield first, previous, offset, "a quoted field is not closed"
                pending, size = [], 0
            yield number, number, offset, text.problem
            previous = number
            continue
        if pending:
            pending += [""] * (number - previous - 1)  # blank lines inside the quoted field
        else:
            first = number
        pending.append(text)
        size += len(text) + number - previous
        previous = number
        joined = "\n".join(pending)
        if joined.count('"') % 2 and size <= MAX_RECORD_BYTES:
            continue  # a quoted field goes on on the next line
        pending, size = [], 0
        if joined.count('"') % 2:
            yield first, number, offset, f"a quoted field is not closed within {MAX_RECORD_BYTES:,} bytes"
        else:
            yield first, number, offset, _fields(joined)
    if pending:
        yield first, previous, offset, "a quoted field is not closed at the end of the file"


def _fields(text: str) -> list[str] | str:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        return f"invalid CSV ({exc})"
    return rows[0] if len(rows) == 1 else "invalid CSV (a line break outside quotes)"

"""The records an import carries, with Rocket.Chat's field names and rules.

A record that breaks a rule is a record error: it is counted as failed and kept with the message
RecordInvalid carries, as is a line that cannot be read. (A file that cannot be read at all is
another matter: readers.lines.MalformedInput fails the whole operation.)
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.records.staged import RecordType

#: A user name, channel name or message author: Rocket.Chat's own characters.
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
NAME_MAX_LENGTH = 256
TEXT_MAX_LENGTH = 5000

#: The largest record kept whole (its JSON): with the staged item's own attributes, well under
#: DynamoDB's 400 KB item limit. A larger one is staged without its data and fails alone.
MAX_RECORD_BYTES = 256 * 1024
#: DynamoDB nests documents at most 32 levels deep, and a staged item holds the record one down.
MAX_RECORD_DEPTH = 31
#: DynamoDB numbers: 38 significant digits, magnitudes from 1e-130 to below 1e126.
_NUMBER_LIMITS = (1e-130, 1e126)


class RecordInvalid(BulkImportError):
    """A record that breaks a rule; the message names the field."""


def _listed(value: Any) -> Any:
    """CSV gives lists as `a;b`; JSON gives them as arrays."""
    return [part for part in value.split(";") if part] if isinstance(value, str) else value


def _boolean(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    return value


class ImportRecord(BaseModel):
    # Rocket.Chat ignores fields it does not know. Built by the first record validated, not by the
    # cold start of every write function that imports them (docs/decisions/0002-cold-start-budget.md).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class UserRecord(ImportRecord):
    username: Annotated[str, Field(pattern=NAME_PATTERN)]
    emails: Annotated[list[Annotated[str, Field(pattern=EMAIL_PATTERN)]], BeforeValidator(_listed), Field(min_length=1)]
    importIds: Annotated[list[str], BeforeValidator(_listed)] = []
    name: Annotated[str, Field(max_length=NAME_MAX_LENGTH)] | None = None
    utcOffset: float | None = None
    avatarUrl: str | None = None
    deleted: Annotated[bool, BeforeValidator(_boolean)] = False
    statusText: str | None = None
    roles: Annotated[list[str], BeforeValidator(_listed)] = []
    type: str | None = None
    bio: str | None = None

    @field_validator("emails")
    @classmethod
    def _lower_case(cls, emails: list[str]) -> list[str]:
        return [email.lower() for email in emails]


class ChannelRecord(ImportRecord):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    creator: Annotated[str, Field(pattern=NAME_PATTERN)]
    private: Annotated[bool, BeforeValidator(_boolean)] = False
    members: Annotated[list[Annotated[str, Field(pattern=NAME_PATTERN)]], BeforeValidator(_listed)] = []


class MessageRecord(ImportRecord):
    channel: Annotated[str, Field(pattern=NAME_PATTERN)]
    username: Annotated[str, Field(pattern=NAME_PATTERN)]
    # Milliseconds since the epoch (CSV, Rocket.Chat) or an ISO 8601 time.
    timestamp: datetime
    text: Annotated[str, Field(max_length=TEXT_MAX_LENGTH)]


_MODEL_OF_TYPE: dict[RecordType, type[UserRecord] | type[ChannelRecord] | type[MessageRecord]] = {
    RecordType.USER: UserRecord,
    RecordType.CHANNEL: ChannelRecord,
    RecordType.MESSAGE: MessageRecord,
}
_RULE_OF_ERROR = {
    "missing": "is required",
    "string_pattern_mismatch": "invalid format",
    "too_short": "at least one is required",
    "string_too_long": "too long",
}


def record_problem(data: Any) -> str | None:
    """Why a record as read cannot be kept (a record error of its own, with its file and line),
    or None: too large, nested too deep, or a number DynamoDB cannot hold."""
    try:
        size = len(json.dumps(data, allow_nan=False, separators=(",", ":")).encode())
    except ValueError:
        return "a number is not finite (NaN or Infinity)"
    except RecursionError:
        return f"nested too deep (at most {MAX_RECORD_DEPTH} levels)"
    if size > MAX_RECORD_BYTES:
        return f"too large: {size:,} bytes (at most {MAX_RECORD_BYTES:,})"
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_RECORD_DEPTH:
                return f"nested too deep (at most {MAX_RECORD_DEPTH} levels)"
            pending += [(item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)]
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value and not _storable_number(value):
            return f"number out of range: {value!r}"
    return None


def _storable_number(value: int | float) -> bool:
    if isinstance(value, int):
        return abs(value) < 10**38
    return math.isfinite(value) and _NUMBER_LIMITS[0] <= abs(value) < _NUMBER_LIMITS[1]


def parse_record(record_type: str, data: dict[str, Any]) -> UserRecord | ChannelRecord | MessageRecord:
    """The record, or RecordInvalid with a short message such as 'emails: at least one is required'."""
    try:
        return _MODEL_OF_TYPE[RecordType(record_type)].model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"] if not isinstance(part, int)) or "record"
            problems.append(f"{field}: {_RULE_OF_ERROR.get(error['type'], 'invalid value')}")
        raise RecordInvalid("; ".join(dict.fromkeys(problems))) from exc

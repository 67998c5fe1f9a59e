"""The records an import carries, with Rocket.Chat's field names and rules.

A record that breaks a rule is a record error: it is counted as failed and kept with the message
RecordInvalid carries, as is a line that cannot be read. (A file that cannot be read at all is
another matter: readers.lines.MalformedInput fails the whole operation.)
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

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


_EMAILS_REQUIRED = "emails_required"


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
    emails: Annotated[
        list[Annotated[str, Field(pattern=EMAIL_PATTERN)]] | None,
        BeforeValidator(_listed),
        Field(validate_default=True),
    ] = None
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
    def _lower_case(cls, emails: list[str] | None, info: ValidationInfo) -> list[str]:
        # Some importers' users may have none (domain/importers.py says which): parse_record's context.
        if not emails and (info.context or {}).get(_EMAILS_REQUIRED, True):
            raise PydanticCustomError("missing" if emails is None else "too_short", "an email is required")
        return [email.lower() for email in emails or []]


class ChannelRecord(ImportRecord):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    creator: Annotated[str, Field(pattern=NAME_PATTERN)]
    private: Annotated[bool, BeforeValidator(_boolean)] = False
    members: Annotated[list[Annotated[str, Field(pattern=NAME_PATTERN)]], BeforeValidator(_listed)] = []
    # What an export from another product (Slack's, read as Rocket.Chat reads it) says of the
    # channel, with Rocket.Chat's import-data names; absent from the others' records.
    importIds: list[str] | None = None
    #: Rocket.Chat's room type: "c" public, "p" private, "d" direct messages.
    t: Literal["c", "p", "d"] | None = None
    topic: str | None = None
    description: str | None = None
    ts: datetime | None = None
    archived: bool | None = None


class MessageRecord(ImportRecord):
    channel: Annotated[str, Field(pattern=NAME_PATTERN)]
    username: Annotated[str, Field(pattern=NAME_PATTERN)]
    # Milliseconds since the epoch (CSV, Rocket.Chat) or an ISO 8601 time.
    timestamp: datetime
    text: Annotated[str, Field(max_length=TEXT_MAX_LENGTH)]
    # What an export from another product says of the message (as for ChannelRecord); user names
    # are the model's, never the other product's ids.
    importId: str | None = None
    #: The channel's import id, as Rocket.Chat's startImport selects it (domain/selection.py).
    rid: str | None = None
    #: In a direct message conversation (all of them are selected together).
    direct: bool | None = None
    #: Rocket.Chat's message type (uj, ul, room_changed_topic, ...); absent for a plain message.
    t: str | None = None
    #: The importId of the thread's first message, for a reply.
    tmid: str | None = None
    #: A thread's first message: its repliers, number of replies and last reply's time.
    replies: list[str] | None = None
    tcount: int | None = None
    tlm: datetime | None = None
    mentions: list[str] | None = None
    channels: list[str] | None = None
    files: list[dict[str, Any]] | None = None
    reactions: dict[str, Any] | None = None
    attachments: list[dict[str, Any]] | None = None
    editedAt: datetime | None = None
    editedBy: str | None = None
    bot: bool | None = None
    emoji: str | None = None
    groupable: bool | None = None


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


def parse_record(
    record_type: str, data: dict[str, Any], *, emails_required: bool = True
) -> UserRecord | ChannelRecord | MessageRecord:
    """The record, or RecordInvalid with a short message such as 'emails: at least one is required'.
    A user needs an email unless `emails_required` is false."""
    try:
        return _MODEL_OF_TYPE[RecordType(record_type)].model_validate(data, context={_EMAILS_REQUIRED: emails_required})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"] if not isinstance(part, int)) or "record"
            problems.append(f"{field}: {_RULE_OF_ERROR.get(error['type'], 'invalid value')}")
        raise RecordInvalid("; ".join(dict.fromkeys(problems))) from exc

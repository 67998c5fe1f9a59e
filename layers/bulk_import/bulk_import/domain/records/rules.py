"""The records' limits, and a check of plain records that needs no pydantic.

records.py states the rules as pydantic models, which the worker applies to every record. Loading
pydantic and building those models is about 70 ms of CPU, over a third of a bare boto3 function's
cold start (issue 10), and the one API route that applies the rules (a retry's corrections) gets
records that are almost always plain: strings, lists of strings, booleans. `plainly_valid` accepts
such a record without pydantic. It is sound, not complete: True only where the models accept the
record too (tests/unit/test_record_rules.py holds it against them); False means "ask the models",
which also give the refusal's words.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: A user name, channel name or message author: Rocket.Chat's own characters.
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
NAME_MAX_LENGTH = 256
TEXT_MAX_LENGTH = 5000

# Printable ASCII only: there, Python's regular expressions and pydantic's (Rust's) agree on what
# `\s` and `$` match; anything else is left to the models.
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_EMAIL = re.compile(r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+")


def _is_name(value: Any) -> bool:
    return type(value) is str and _NAME.fullmatch(value) is not None


def _is_email(value: Any) -> bool:
    return type(value) is str and _EMAIL.fullmatch(value) is not None


def _is_text(value: Any, max_length: int | None = None) -> bool:
    return type(value) is str and (max_length is None or len(value) <= max_length)


def _optional(check: Any) -> Any:
    return lambda value: value is None or check(value)


def _list_of(check: Any, at_least: int = 0) -> Any:
    return lambda value: type(value) is list and len(value) >= at_least and all(check(item) for item in value)


def _is_number(value: Any) -> bool:
    # Within what a double holds exactly: past it, how the models convert is theirs to say.
    return (type(value) is int and abs(value) <= 2**53) or (type(value) is float and math.isfinite(value))


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


#: Per record type: each field's plain check, and whether the record needs it.
_PLAIN_FIELDS: dict[str, dict[str, tuple[Any, bool]]] = {
    "user": {
        "username": (_is_name, True),
        "emails": (_list_of(_is_email, at_least=1), True),
        "importIds": (_list_of(_is_text), False),
        "name": (_optional(lambda value: _is_text(value, NAME_MAX_LENGTH)), False),
        "utcOffset": (_optional(_is_number), False),
        "avatarUrl": (_optional(_is_text), False),
        "deleted": (_is_boolean, False),
        "statusText": (_optional(_is_text), False),
        "roles": (_list_of(_is_text), False),
        "type": (_optional(_is_text), False),
        "bio": (_optional(_is_text), False),
    },
    "channel": {
        "name": (_is_name, True),
        "creator": (_is_name, True),
        "private": (_is_boolean, False),
        "members": (_list_of(_is_name), False),
    },
    # A message's timestamp is a date in one of several forms: only the models read it.
    "message": {},
}


def plainly_valid(record_type: str, data: Any) -> bool:
    """True only if the records' rules accept `data` as a `record_type` record; False if it is
    invalid or not plain enough to tell without the models."""
    fields = _PLAIN_FIELDS.get(record_type)
    if not fields or type(data) is not dict:
        return False
    return all(check(data[name]) if name in data else not required for name, (check, required) in fields.items())

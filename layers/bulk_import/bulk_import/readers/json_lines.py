"""JSON Lines: one record a line, `{"type": "user" | "channel" | "message", ...}`."""

from __future__ import annotations

import json
import re

from bulk_import.domain.records.schema import MAX_RECORD_DEPTH
from bulk_import.domain.records.staged import RecordType

#: The type of a JSON line too large to parse, if it says so early; counted as a user otherwise.
_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"(user|channel|message)"')


def json_type(head: bytes) -> RecordType:
    found = _TYPE_FIELD.search(head)
    return RecordType(found.group(1).decode()) if found else RecordType.USER


def json_record(text: str) -> tuple[RecordType, dict, str | None]:
    """The line's record type and data, and why it cannot be kept if it cannot (its type then
    guessed from the text: a user unless it says otherwise)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return json_type(text.encode()), {}, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:  # valid JSON nested beyond what any store keeps
        return json_type(text.encode()), {}, f"nested too deep (at most {MAX_RECORD_DEPTH} levels)"
    if not isinstance(value, dict):
        return RecordType.USER, {}, "expected a JSON object"
    kind = value.pop("type", None)
    if kind not in {t.value for t in RecordType}:
        return RecordType.USER, {}, f"type must be user, channel or message, not {kind!r}"
    return RecordType(kind), value, None

"""The /v1 write routes' request bodies, read by hand: without pydantic, whose import alone costs a
fifth of a bare boto3 function's cold start (docs/benchmarks.md).

api/native_requests.py holds the same bodies as pydantic models: the OpenAPI document describes the
bodies by them, and tests/unit/test_native_bodies.py checks that each reader here accepts what its
model accepts, with the same values, and refuses what it refuses, with the same errors (pydantic's
`loc` and `msg`, in its order: fields in declaration order, every invalid item of a list). The
readers take what json.loads gave.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bulk_import.api.native import InvalidRequest, not_one_of, parse_integer_text
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.uploads import MAX_UPLOAD_SIZE

#: (location below the body, message): one error as pydantic words it.
Error = tuple[tuple[Any, ...], str]

_NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


class _Refused(Exception):
    def __init__(self, errors: list[Error]) -> None:
        super().__init__(errors)
        self.errors = errors


def _refuse(message: str, *location: Any) -> _Refused:
    return _Refused([(location, message)])


# -- values ----------------------------------------------------------------------------------------


def _string(
    value: Any, min_length: int | None = None, max_length: int | None = None, pattern: str | None = None
) -> str:
    if not isinstance(value, str):
        raise _refuse("Input should be a valid string")
    if min_length is not None and len(value) < min_length:
        raise _refuse(f"String should have at least {min_length} character{'' if min_length == 1 else 's'}")
    if max_length is not None and len(value) > max_length:
        raise _refuse(f"String should have at most {max_length} character{'' if max_length == 1 else 's'}")
    # fullmatch: "$" must not match before a final newline (pydantic's regex engine is Rust's)
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise _refuse(f"String should match pattern '{pattern}'")
    return value


def _integer(value: Any, ge: int, le: int) -> int:
    if isinstance(value, bool):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise _refuse("Input should be a valid integer, got a number with a fractional part")
        number = int(value)
    elif isinstance(value, str):
        try:
            number = parse_integer_text(value)
        except ValueError as error:
            raise _refuse(str(error)) from error
    else:
        raise _refuse("Input should be a valid integer")
    if number < ge:
        raise _refuse(f"Input should be greater than or equal to {ge}")
    if number > le:
        raise _refuse(f"Input should be less than or equal to {le}")
    return number


def _items(value: Any, item: Callable[[Any], Any], min_length: int, max_length: int) -> list[Any]:
    """A list of `item`s: every invalid item's error, under its index."""
    if not isinstance(value, list):
        raise _refuse("Input should be a valid list")
    items, errors = [], []
    for index, element in enumerate(value):
        try:
            items.append(item(element))
        except _Refused as refused:
            errors += [((index, *location), message) for location, message in refused.errors]
    if errors:
        raise _Refused(errors)
    if len(items) < min_length:
        noun = "item" if min_length == 1 else "items"
        raise _refuse(f"List should have at least {min_length} {noun} after validation, not {len(items)}")
    if len(items) > max_length:
        raise _refuse(f"List should have at most {max_length} items after validation, not {len(items)}")
    return items


def _object(value: Any, message: str = _NOT_AN_OBJECT) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _refuse(message)
    return value


#: A field without a default.
_REQUIRED = object()


def _fields(data: Any, fields: dict[str, tuple[Callable[[Any], Any], Any, bool]]) -> dict[str, Any]:
    """The fields of an object, each (reader, default when absent or _REQUIRED, nullable). Every
    invalid field's error, under its name."""
    data = _object(data)
    values, errors = {}, []
    for name, (read, default, nullable) in fields.items():
        if name not in data:
            if default is _REQUIRED:
                errors.append(((name,), "Field required"))
            values[name] = default
            continue
        try:
            values[name] = None if nullable and data[name] is None else read(data[name])
        except _Refused as refused:
            errors += [((name, *location), message) for location, message in refused.errors]
    if errors:
        raise _Refused(errors)
    return values


# -- the bodies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRequest:
    filename: str
    size: int | None


@dataclass(frozen=True)
class CompleteUploadRequest:
    etags: list[str]


@dataclass(frozen=True)
class StartImportRequest:
    uploadId: str | None
    #: Each record as sent: its type checked, its other fields by the worker (records.py).
    records: list[dict[str, Any]] | None
    name: str | None


@dataclass(frozen=True)
class RetryRequest:
    corrections: dict[str, dict[str, Any]]


_RECORD_TYPES = [kind.value for kind in RecordType]


def _record(value: Any) -> dict[str, Any]:
    record = _object(value)
    if "type" not in record:
        raise _refuse("Field required", "type")
    if record["type"] not in _RECORD_TYPES:
        raise _refuse(not_one_of(_RECORD_TYPES), "type")
    return record


def _corrections(value: Any) -> dict[str, dict[str, Any]]:
    corrections = _object(value, "Input should be a valid dictionary")
    errors: list[Error] = []
    for record, fixed in corrections.items():
        try:
            _string(record, pattern=r"^(user|channel|message):\d+$")
        except _Refused as refused:
            errors += [((record, "[key]"), message) for _, message in refused.errors]
        if not isinstance(fixed, dict):
            errors.append(((record,), "Input should be a valid dictionary"))
    if errors:
        raise _Refused(errors)
    if len(corrections) > 10_000:
        raise _refuse("Dictionary should have at most 10000 items after validation, not more")
    return corrections


def _upload_request(data: Any) -> UploadRequest:
    return UploadRequest(
        **_fields(
            data,
            {
                "filename": (lambda value: _string(value, 1, 255, r"^[^/\\\x00-\x1f]+$"), _REQUIRED, False),
                "size": (lambda value: _integer(value, 0, MAX_UPLOAD_SIZE), None, True),
            },
        )
    )


def _complete_upload_request(data: Any) -> CompleteUploadRequest:
    return CompleteUploadRequest(
        **_fields(data, {"etags": (lambda value: _items(value, _string, 1, 10_000), _REQUIRED, False)})
    )


def _start_import_request(data: Any) -> StartImportRequest:
    request = StartImportRequest(
        **_fields(
            data,
            {
                "uploadId": (lambda value: _string(value, pattern=r"^[0-9a-f]{24}$"), None, True),
                "records": (lambda value: _items(value, _record, 1, 10_000), None, True),
                "name": (lambda value: _string(value, max_length=256), None, True),
            },
        )
    )
    if (request.uploadId is None) == (request.records is None):
        raise _refuse("Value error, give either uploadId or records")
    return request


def _retry_request(data: Any) -> RetryRequest:
    corrections = _fields(data, {"corrections": (_corrections, {}, False)})["corrections"]
    return RetryRequest(dict(corrections))  # a copy: the default is shared


#: The reader of each body, by the name of its model in native_requests.py.
READERS: dict[str, Callable[[Any], Any]] = {
    "UploadRequest": _upload_request,
    "CompleteUploadRequest": _complete_upload_request,
    "StartImportRequest": _start_import_request,
    "RetryRequest": _retry_request,
}


def read(model_name: str, data: Any) -> Any:
    """The body `data` (as json.loads gave it) read as the model `model_name` of native_requests.py
    reads it; InvalidRequest with pydantic's errors, under `body`, when it is not valid."""
    try:
        return READERS[model_name](data)
    except _Refused as refused:
        errors = [{"loc": ("body", *location), "msg": message} for location, message in refused.errors]
        raise InvalidRequest(errors) from refused

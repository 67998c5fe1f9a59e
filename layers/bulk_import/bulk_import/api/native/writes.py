"""The /v1 write function's resolver: Powertools' validation reads each body with its model
(native/requests.py), and its exception handlers answer problems: a refused body as
`invalid-request`, each error in this API's words (`body.records[2].type: must be one of user,
channel, message`), a body that is not JSON as `unsupported-media-type`, every other error as
problems.answer_error maps it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from bulk_import.api.native.problems import answer_error, problem
from bulk_import.api.native.requests import PATTERN_WORDS
from bulk_import.api.rest import NOT_A_JSON_NUMBER
from bulk_import.api.write_resolver import as_response, write_resolver


def media_type(event: Any) -> str:
    """The request's media type, lowercase and without parameters (JSON when not sent)."""
    return (event.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()


def resolver() -> APIGatewayRestResolver:
    """The write function's resolver, its exception handlers registered."""
    app = write_resolver(answer_error)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        event = app.current_event
        # Powertools reads a form body too (and serves one its model accepts); one it refuses is
        # answered as what it is, not JSON (curl -d without a Content-Type), rather than with the
        # puzzling errors of the fields a form of JSON text lacks.
        if media_type(event) != "application/json":
            return not_json(error)
        errors = [refusal(detail) for detail in error.errors()]
        return as_response(problem("invalid-request", errors=errors, instance=event.path))

    @app.exception_handler(RequestUnsupportedContentType)
    def not_json(error: Exception) -> Response:
        event = app.current_event
        return as_response(problem("unsupported-media-type", f"got {media_type(event)}", instance=event.path))

    return app


def refusal(error: Mapping[str, Any]) -> str:
    """One error of Powertools' validation (pydantic's, under `body`) as this API says it: where,
    then what is wrong."""
    location = list(error.get("loc") or ())
    if error.get("type") == "json_invalid":
        reason = str((error.get("ctx") or {}).get("error", ""))
        return f"body: is not JSON ({reason if reason.endswith(NOT_A_JSON_NUMBER) else f'at offset {location[-1]}'})"
    if location[-1:] == ["[key]"]:  # a key of a mapping: location ends with the key, then "[key]"
        return f"{_path(location[:-2])}: the key {json.dumps(location[-2])} {_what(error)}"
    return f"{_path(location)}: {_what(error)}"


def _path(location: Sequence[Any]) -> str:
    """`body.records[2].type`, `body.corrections["user:1"]`."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _what(error: Mapping[str, Any]) -> str:
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "string_type":
        return "must be a string"
    if kind == "string_too_short":
        minimum = context.get("min_length")
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} characters"
    if kind == "string_too_long":
        return f"must have at most {context.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return PATTERN_WORDS.get(context.get("pattern", ""), "is not in the expected form")
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return "must be a whole number"
    if kind == "greater_than_equal":
        return f"must be at least {context.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {context.get('le')}"
    if kind == "list_type":
        return "must be a list"
    if kind == "too_short":
        minimum = context.get("min_length")
        return f"must have at least {minimum} item{'' if minimum == 1 else 's'}"
    if kind == "too_long":
        return f"must have at most {context.get('max_length')} items"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a JSON object"
    if kind == "enum":
        # The allowed values, as the error's context lists them: 'user', 'channel' or 'message'.
        allowed = re.findall(r"'([^']*)'", str(context.get("expected", "")))
        return f"must be one of {', '.join(allowed)}"
    if kind == "value_error":  # a model's own check: its message is this API's
        return str(context.get("error", "is not valid"))
    return "is not valid"

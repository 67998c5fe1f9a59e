"""Personium's request bodies, validated by pydantic. Only the import function reads one, so only it
loads pydantic: the status function's cold start does without (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, ValidationError

from bulk_import.api.personium import (
    FIELD_FORMAT_ERROR,
    JSON_PARSE_ERROR,
    REQUIRED_KEY_MISSING,
    SNAPSHOT_NAME_PATTERN,
    PersoniumRequestError,
)


class CellImportRequest(BaseModel):
    """POST /{CellName}/__import body."""

    Name: Annotated[str, Field(pattern=SNAPSHOT_NAME_PATTERN, strict=True)]


def parse_cell_import_request(body: str | None) -> CellImportRequest:
    """The body, or the Personium error its first problem deserves."""
    try:
        return CellImportRequest.model_validate_json(body or "")
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "missing":
            raise PersoniumRequestError(REQUIRED_KEY_MISSING, "Name") from exc
        if error["loc"] == ("Name",):
            raise PersoniumRequestError(FIELD_FORMAT_ERROR, "Name", SNAPSHOT_NAME_PATTERN) from exc
        raise PersoniumRequestError(JSON_PARSE_ERROR, error["msg"]) from exc

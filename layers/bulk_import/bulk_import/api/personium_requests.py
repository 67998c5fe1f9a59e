"""The body of Personium's `POST /{CellName}/__import`, as a pydantic model read the way Personium's
CellImportResource reads it (personium-core): once the caller's root on the cell is checked, the
body is parsed whatever its Content-Type, and each refusal is Personium's code and message. The
OpenAPI document describes the body by the model (local/bulk_import_local/openapi.py, READ_IN_ROUTE:
Powertools' validation, which reads a body before the route runs, would refuse it before the
credential is checked, and in its own words)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bulk_import.api.personium import (
    FIELD_FORMAT_ERROR,
    JSON_PARSE_ERROR,
    REQUIRED_KEY_MISSING,
    SNAPSHOT_NAME_PATTERN,
    PersoniumRequestError,
)
from bulk_import.api.rest import parse_json


class CellImportRequest(BaseModel):
    """Import the snapshot <Name>.zip stored by `PUT /{CellName}/__snapshot/<Name>.zip`."""

    model_config = ConfigDict(defer_build=True)  # built by the first import's request, not by every cold start

    Name: str = Field(pattern=SNAPSHOT_NAME_PATTERN, description="The snapshot's name, without .zip")


def cell_import_request(body: str | None) -> CellImportRequest:
    """The body read as CellImportResource reads it: JSON_PARSE_ERROR naming the body when it is not a
    JSON object (NaN and Infinity refused, as Personium's JSON parser does), REQUIRED_KEY_MISSING for a
    Name absent or null, FIELD_FORMAT_ERROR for any other Name the model refuses. Where Personium
    fails with a 500 (a body that is JSON but not an object, a Name that is not a string), this
    answers the 400 of the nearest check."""
    text = body or ""
    try:
        parsed = parse_json(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise PersoniumRequestError(JSON_PARSE_ERROR, text)
    try:
        return CellImportRequest.model_validate(parsed)
    except ValidationError as refused:
        error = refused.errors()[0]  # the model has one field
        if error["type"] == "missing" or error["input"] is None:
            raise PersoniumRequestError(REQUIRED_KEY_MISSING, "Name") from refused
        raise PersoniumRequestError(FIELD_FORMAT_ERROR, "Name", SNAPSHOT_NAME_PATTERN) from refused

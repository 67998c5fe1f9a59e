"""Rocket.Chat's request bodies, validated by pydantic. Only the importer function reads one, so only
it loads pydantic: the status function's cold start does without (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from bulk_import.api.rocketchat import InvalidParams


class AddUsersRequest(BaseModel):
    """import.addUsers body; the users' fields are checked by Rocket.Chat's rules when imported."""

    users: list[dict[str, Any]]


def parse_add_users_request(body: str | None) -> AddUsersRequest:
    try:
        return AddUsersRequest.model_validate_json(body or "")
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"])
        raise InvalidParams(f"{error['msg']}{' in ' + location if location else ''} [invalid-params]") from exc

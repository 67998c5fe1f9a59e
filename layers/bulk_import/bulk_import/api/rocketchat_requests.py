"""The bodies of Rocket.Chat's import routes (import.addUsers, uploadImportFile, downloadPublicImportFile,
downloadPendingFiles, downloadPendingAvatars, startImport), as pydantic models that check a body the
way Rocket.Chat does: its AJV validator with `coerceTypes: true` and the first error only, on its
schema (isImportAddUsersParamsPOST, ...), which the models' fields state. The routes read the body
once the caller is authorized, as Rocket.Chat does; the OpenAPI document describes it by the model
(local/bulk_import_local/openapi.py, READ_IN_ROUTE)."""

from __future__ import annotations

import base64
import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bulk_import.api.rest import parse_json
from bulk_import.api.rocketchat import InvalidParams

#: The models are built by the first import.addUsers, not by the cold starts of the importer's other routes.
BUILT_WHEN_USED = ConfigDict(defer_build=True)


class ImportUser(BaseModel):
    """A user to stage (IImportUser); properties beyond these are kept as sent."""

    model_config = BUILT_WHEN_USED | ConfigDict(extra="allow")

    username: str | None = None
    emails: list[str]
    importIds: list[str]
    name: str | None = None
    utcOffset: int | float | None = None
    avatarUrl: str | None = None
    deleted: bool | None = None
    statusText: str | None = None
    roles: list[str] | None = None
    type: str | None = None
    bio: str | None = None
    password: str | None = None


class ImportAddUsersRequest(BaseModel):
    model_config = BUILT_WHEN_USED | ConfigDict(extra="forbid")

    users: list[ImportUser] = Field(description="The users to stage for the API import")

    @model_validator(mode="before")
    @classmethod
    def _as_ajv_checks_it(cls, data: Any) -> Any:
        """AJV's checks and coercions, in AJV's order: the body, then each user (required properties
        first, then each property in the schema's order). Scalars are coerced in place (a utcOffset
        of "5" is 5, a username of 5 is "5"); the first violation is InvalidParams with AJV's message,
        which ApiClass sends with ` [invalid-params]` appended (a Meteor.Error)."""
        try:
            data = _checked_object(data, {"users": "array"}, required=["users"])
        except InvalidParams as exc:
            raise _invalid(str(exc)) from None
        for user in data["users"]:
            if not isinstance(user, dict):
                raise _invalid("must be object")
            for name in _USER_REQUIRED:
                if name not in user:
                    raise _invalid(f"must have required property '{name}'")
            for name, (kind, nullable) in _USER_PROPERTIES.items():
                if name not in user or (nullable and user[name] is None):
                    continue
                try:
                    if kind == "array":
                        if not isinstance(user[name], list):
                            raise InvalidParams("must be array")
                        user[name] = [_coerced(item, "string", False) for item in user[name]]
                    else:
                        user[name] = _coerced(user[name], kind, nullable)
                except InvalidParams as exc:
                    raise _invalid(str(exc)) from None
        return data

    def user_records(self) -> list[dict[str, Any]]:
        """The users as sent (coerced): the properties they have, and no others."""
        return [user.model_dump(exclude_unset=True) for user in self.users]


def add_users_request(body: str | None) -> ImportAddUsersRequest:
    """An import.addUsers body read as Rocket.Chat reads it: a body that is absent or not JSON is {},
    as its router's body parser leaves it, then checked by the model (InvalidParams)."""
    return ImportAddUsersRequest.model_validate(json_body(body))


#: AJV's type of each kind of field.
_JSON_TYPES: dict[Any, str] = {str: "string", list: "array", int: "number", float: "number", bool: "boolean"}


def _ajv_type(annotation: Any) -> tuple[str, bool]:
    """The JSON type a field of ImportUser has in Rocket.Chat's schema, and whether it is nullable."""
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    (kind,) = {_JSON_TYPES[get_origin(member) or member] for member in members if member is not type(None)}
    return kind, type(None) in members


#: The schema's user properties in its order, and those required: the model's fields.
_USER_PROPERTIES = {name: _ajv_type(field.annotation) for name, field in ImportUser.model_fields.items()}
_USER_REQUIRED = [name for name, field in ImportUser.model_fields.items() if field.is_required()]
_NOT_COERCED = object()


def _coerced(value: Any, kind: str, nullable: bool) -> Any:
    """`value` as a JSON `kind` ("string", "number", "boolean"), coerced as AJV's coerceTypes does,
    trying `kind` first, then null when `nullable`; InvalidParams "must be <kind>" if it can't be."""
    if _json_type(value) == kind:
        return value
    coerced: Any = _NOT_COERCED
    if kind == "string" and (isinstance(value, (bool, int, float)) or value is None):
        coerced = "" if value is None else _js_string(value)
    elif kind == "number" and (
        isinstance(value, (bool, type(None))) or (isinstance(value, str) and _number(value) is not None)
    ):
        coerced = 0 if value is None else int(value) if isinstance(value, bool) else _number(value)
    elif kind == "boolean" and value in ("true", "false", 1, 0, None):
        coerced = value == "true" or value == 1
    if coerced is _NOT_COERCED and nullable and (value == "" or value == 0 or value is False):
        coerced = None
    if coerced is _NOT_COERCED:
        raise InvalidParams(f"must be {kind}")
    return coerced


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    json_types: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return json_types.get(type(value), "null")


def _number(text: str) -> int | float | None:
    """JavaScript's `+text` where AJV coerces it (a non-empty string equal to its number); None if not."""
    try:
        number = float(text)
    except ValueError:
        return None
    if not text.strip() or number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _js_string(value: bool | int | float) -> str:
    """JavaScript's `"" + value`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _invalid(message: str) -> InvalidParams:
    return InvalidParams(f"{message} [invalid-params]")


class _StringsBody(BaseModel):
    """A body of string properties, every one required and no other (AJV checks it so)."""

    model_config = BUILT_WHEN_USED | ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _as_ajv_checks_it(cls, data: Any) -> Any:
        return _checked_object(data, dict.fromkeys(cls.model_fields, "string"), required=list(cls.model_fields))


class UploadImportFileRequest(_StringsBody):
    """uploadImportFile's body (isUploadImportFileParamsPOST): the file in base64 and the importer
    that reads it, every property required and no other."""

    binaryContent: str = Field(description="The file, base64-encoded")
    contentType: str = Field(description="Its media type, e.g. application/zip")
    fileName: str = Field(description="Its name")
    importerKey: str = Field(description="The importer that reads it (importers.list): csv, slack, slack-users")

    def content(self) -> bytes:
        """The file, decoded as Node's Buffer.from(text, 'base64') decodes it: characters outside
        base64 (and URL-safe base64) are left out, and missing padding is no error."""
        text = re.sub(r"[^A-Za-z0-9+/]", "", self.binaryContent.replace("-", "+").replace("_", "/"))
        if len(text) % 4 == 1:  # a last lone character holds no whole byte
            text = text[:-1]
        return base64.b64decode(text + "=" * (-len(text) % 4))


class DownloadPublicImportFileRequest(_StringsBody):
    """downloadPublicImportFile's body (isDownloadPublicImportFileParamsPOST): the file's URL and the
    importer that reads it, both required and no other property."""

    fileUrl: str = Field(description="An http(s) URL the file is downloaded from (SSRF_Allowlist for private ones)")
    importerKey: str = Field(description="The importer that reads it (importers.list): csv, slack, slack-users")


class PendingDownloadsRequest(_StringsBody):
    """downloadPendingFiles' and downloadPendingAvatars' body (isDownloadPendingFilesParamsPOST):
    an object, and no property."""


class SelectionPart(BaseModel):
    """Which users or channels to import: `all`, or the ids getImportFileData listed."""

    model_config = BUILT_WHEN_USED | ConfigDict(populate_by_name=True)

    every: bool | None = Field(default=None, alias="all")
    ids: list[str] | None = Field(default=None, alias="list")


class ShortSelection(BaseModel):
    model_config = BUILT_WHEN_USED

    users: SelectionPart | None = None
    channels: SelectionPart | None = None
    contacts: SelectionPart | None = None


class StartSelectedImportRequest(BaseModel):
    """startImport's body (isStartImportParamsPOST, Rocket.Chat 7's short selection)."""

    model_config = BUILT_WHEN_USED | ConfigDict(extra="forbid")

    input: ShortSelection = Field(description="What to import of the prepared file")

    def selection(self) -> dict[str, Any]:
        """The selection as Rocket.Chat's startImport takes it (domain/selection.py reads it)."""
        return self.input.model_dump(by_alias=True, exclude_none=True)

    @model_validator(mode="before")
    @classmethod
    def _as_ajv_checks_it(cls, data: Any) -> Any:
        data = _checked_object(data, {"input": "object"}, required=["input"])
        for name in ("users", "channels", "contacts"):
            part = data["input"].get(name)
            if part is None:
                continue
            if not isinstance(part, dict):
                raise InvalidParams("must be object")
            if "all" in part:
                part["all"] = _coerced(part["all"], "boolean", False)
            if "list" in part:
                if not isinstance(part["list"], list):
                    raise InvalidParams("must be array")
                part["list"] = [_coerced(item, "string", False) for item in part["list"]]
        return data


def _checked_object(data: Any, properties: dict[str, str], required: list[str]) -> dict[str, Any]:
    """A body checked as AJV checks an object schema with `additionalProperties: false`, in its order:
    the type, the required properties, the properties not in the schema, then each property's type
    (scalars coerced, as Rocket.Chat's AJV does). The first violation is InvalidParams with AJV's
    message (the router answers it with `errorType: invalid-params`)."""
    if not isinstance(data, dict):
        raise InvalidParams("must be object")
    for name in required:
        if name not in data:
            raise InvalidParams(f"must have required property '{name}'")
    if set(data) - set(properties):
        raise InvalidParams("must NOT have additional properties")
    for name, kind in properties.items():
        if name not in data:
            continue
        if kind in ("object", "array"):
            if _json_type(data[name]) != kind:
                raise InvalidParams(f"must be {kind}")
        else:
            data[name] = _coerced(data[name], kind, False)
    return data


def json_body(body: str | None) -> Any:
    """A body as Rocket.Chat's router reads it: absent or not JSON, it is {}."""
    try:
        return parse_json(body or "{}")
    except ValueError:
        return {}

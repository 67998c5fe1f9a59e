"""The OpenAPI 3.1 document of all three APIs, generated from the handlers' own routes and models.

Each API function's Powertools resolver describes its routes (the lean functions' bulk_import.api.rest
routers declare theirs on one); this merges them, adds the three ways to authenticate, the /v1
problem responses and the bodies the Personium and Rocket.Chat routes read themselves
(READ_IN_ROUTE), and writes functions/api_docs/openapi.json, which ApiDocsFunction serves. OPTIONS
is left out (include_in_schema=False, or answered before the resolver): a CORS preflight is
transport, not an operation a client calls, and it takes no credential.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from bulk_import_local.functions_host import FunctionsHost
from bulk_import_local.sam_template import SamTemplate

DOCS_FUNCTION = "ApiDocsFunction"
TITLE = "bulk-import"
DESCRIPTION = (
    "Bulk imports of users, channels and messages. Three surfaces over one model: Personium's "
    "cell import (`/{CellName}/__import`), Rocket.Chat's importer (`/api/v1/import.*`) and the native "
    "imports API (`/v1`). Errors of the native API are RFC 9457 problem details. Every path also answers "
    "OPTIONS (CORS preflights need no credential) as its dialect does; those operations are not listed."
)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "A /v1 credential (bulk-import token create --api)"},
    "personiumToken": {"type": "http", "scheme": "bearer", "description": "A Personium cell root token"},
    "rocketChatUserId": {"type": "apiKey", "in": "header", "name": "X-User-Id"},
    "rocketChatAuthToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
}
SECURITY_OF_TAG = {
    "Imports": [{"bearer": []}],
    "Uploads": [{"bearer": []}],
    "Personium": [{"personiumToken": []}],
    "Rocket.Chat": [{"rocketChatUserId": [], "rocketChatAuthToken": []}],
}
NATIVE_TAGS = {"Imports", "Uploads"}
#: The bodies the Personium and Rocket.Chat write routes read themselves, after the credential, as
#: their products do (Powertools' validation would read them before the route, and refuse them in
#: its own words): (method, path) -> (module, the pydantic model that reads the body).
READ_IN_ROUTE = {
    ("post", "/{CellName}/__import"): ("bulk_import.api.personium_requests", "CellImportRequest"),
    ("post", "/api/v1/import.addUsers"): ("bulk_import.api.rocketchat_requests", "ImportAddUsersRequest"),
    ("post", "/api/v1/uploadImportFile"): ("bulk_import.api.rocketchat_requests", "UploadImportFileRequest"),
    ("post", "/api/v1/downloadPublicImportFile"): (
        "bulk_import.api.rocketchat_requests",
        "DownloadPublicImportFileRequest",
    ),
    ("post", "/api/v1/downloadPendingFiles"): ("bulk_import.api.rocketchat_requests", "PendingDownloadsRequest"),
    ("post", "/api/v1/downloadPendingAvatars"): ("bulk_import.api.rocketchat_requests", "PendingDownloadsRequest"),
    ("post", "/api/v1/startImport"): ("bulk_import.api.rocketchat_requests", "StartSelectedImportRequest"),
}


def generate(template: SamTemplate, host: FunctionsHost) -> dict[str, Any]:
    # Imported here: the API package creates Powertools' Logger and Metrics, which read their
    # configuration from the environment once, and `serve` sets it only when the stack starts.
    from pydantic import TypeAdapter

    from bulk_import.api.native.problems import PROBLEM_JSON, PROBLEM_TYPE_PREFIX, Problem

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": _version(template.root), "description": DESCRIPTION},
        # Relative to where the document is served: the stage (/dev/) on AWS.
        "servers": [{"url": ".", "description": "this API stage"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": SECURITY_SCHEMES},
    }
    api_functions = sorted({route.function for route in template.routes()} - {DOCS_FUNCTION})
    for logical_id in api_functions:
        part = json.loads(_resolver(host.module(logical_id).app).get_openapi_json_schema(title=TITLE))
        for path, operations in part.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if document["components"]["schemas"].setdefault(name, schema) != schema:
                raise ValueError(f"two functions define the schema {name} differently")
    document["components"]["schemas"]["Problem"] = TypeAdapter(Problem).json_schema()
    _add_bodies_read_in_route(document)
    for operations in document["paths"].values():
        for operation in operations.values():
            tag = operation.get("tags", [""])[0]
            operation["security"] = SECURITY_OF_TAG[tag]
            # Powertools' own answer to a request its validation refuses: each dialect answers its own.
            responses = {status: answer for status, answer in operation["responses"].items() if status != "422"}
            if tag in NATIVE_TAGS:
                problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                queried = any(parameter["in"] == "query" for parameter in operation.get("parameters", []))
                if queried or "requestBody" in operation:
                    invalid = (
                        f"The request is not valid: a problem of type {PROBLEM_TYPE_PREFIX}invalid-request, "
                        "its errors naming each invalid field and what it must be"
                    )
                    responses = {"422": {"description": invalid, "content": problem}, **responses}
                responses["default"] = {
                    "description": "A problem (RFC 9457); its type names the error",
                    "content": problem,
                }
            operation["responses"] = responses
    schemas = document["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):  # Powertools' 422, answered by no route
        if f'"#/components/schemas/{unused}"' not in json.dumps(document["paths"]):
            schemas.pop(unused, None)
    for path_item in document["paths"].values():
        _move_additional_operations(path_item)
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


#: The methods an OpenAPI 3.1 Path Item has a field for.
OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _move_additional_operations(path_item: dict[str, Any]) -> None:
    """WebDAV's methods (Personium's PROPFIND, REPORT) have no field in an OpenAPI 3.1 Path Item:
    Powertools writes them as one anyway. They move to `x-additionalOperations`, by method, the form
    OpenAPI 3.2 gives them (`additionalOperations`)."""
    for method in [key for key in path_item if key not in OPENAPI_METHODS and not key.startswith("x-")]:
        path_item.setdefault("x-additionalOperations", {})[method.upper()] = path_item.pop(method)


def _add_bodies_read_in_route(document: dict[str, Any]) -> None:
    """The request body of each route of READ_IN_ROUTE, from its model, as Powertools describes the
    bodies it reads (the model's schema among the components, referenced)."""
    import importlib

    from pydantic.json_schema import models_json_schema

    models = [getattr(importlib.import_module(module), name) for module, name in READ_IN_ROUTE.values()]
    references, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    for name, schema in definitions.get("$defs", {}).items():
        if document["components"]["schemas"].setdefault(name, schema) != schema:
            raise ValueError(f"two models define the schema {name} differently")
    for ((method, path), _), model in zip(READ_IN_ROUTE.items(), models, strict=True):
        document["paths"][path][method]["requestBody"] = {
            "content": {"application/json": {"schema": references[(model, "validation")]}},
            "required": True,
        }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def document_path(template: SamTemplate) -> Path:
    return template.functions()[DOCS_FUNCTION].code_dir / "openapi.json"


def _resolver(app: Any) -> Any:
    """A function's Powertools resolver: its own (the write functions), or one its
    bulk_import.api.rest.Router declares its routes on (the status and read functions)."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from bulk_import.api.rest import Router

    if not isinstance(app, Router):
        return app
    resolver = APIGatewayRestResolver()
    app.declare(resolver)
    return resolver


def _version(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as pyproject:
        return str(tomllib.load(pyproject)["project"]["version"])

"""The OpenAPI 3.1 document of all three APIs, generated from the handlers' own routes and models.

Each API function's Powertools resolver describes its routes; this merges them, adds the three
ways to authenticate and the /v1 problem responses, and writes functions/api_docs/openapi.json,
which ApiDocsFunction serves. OPTIONS is left out (include_in_schema=False, or answered before the
resolver): a CORS preflight is transport, not an operation a client calls, and it takes no credential.
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


def generate(template: SamTemplate, host: FunctionsHost) -> dict[str, Any]:
    # Imported here: the API package creates Powertools' Logger and Metrics, which read their
    # configuration from the environment once, and `serve` sets it only when the stack starts.
    from pydantic import TypeAdapter

    from bulk_import.api.native import PROBLEM_JSON, PROBLEM_TYPE_PREFIX, Problem

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
    for operations in document["paths"].values():
        for operation in operations.values():
            tag = operation.get("tags", [""])[0]
            operation["security"] = SECURITY_OF_TAG[tag]
            if tag in NATIVE_TAGS:
                problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                queried = any(parameter["in"] == "query" for parameter in operation.get("parameters", []))
                if queried or "requestBody" in operation:
                    # The /v1 functions read queries and bodies themselves (native.read_query,
                    # native_writes.read_body), not through Powertools' validation, which would declare the 422.
                    invalid = f"The request is not valid: a problem of type {PROBLEM_TYPE_PREFIX}invalid-request"
                    operation["responses"] = {
                        "422": {"description": invalid, "content": problem},
                        **operation["responses"],
                    }
                operation["responses"]["default"] = {
                    "description": "A problem (RFC 9457); its type names the error",
                    "content": problem,
                }
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def document_path(template: SamTemplate) -> Path:
    return template.functions()[DOCS_FUNCTION].code_dir / "openapi.json"


def _resolver(app: Any) -> Any:
    """A function's Powertools resolver: its own, or one its bulk_import.api.rest.Router declares its
    routes on (the Personium and Rocket.Chat functions route without Powertools' event handler)."""
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

"""OPTIONS of the /v1 resources and the CORS headers of every /v1 answer (docs/architecture.md,
"CORS and OPTIONS"): both /v1 functions run their router through `resolve`."""

from __future__ import annotations

from typing import Any

from bulk_import.api.common import set_response_headers
from bulk_import.api.rest import Answer

#: The methods of each /v1 resource, as template.yaml routes them (the GET and the POST of
#: /imports are served by two functions): what its OPTIONS allows.
RESOURCE_METHODS: dict[str, tuple[str, ...]] = {
    "/v1/cells/{cell}/uploads": ("POST",),
    "/v1/cells/{cell}/uploads/{uploadId}/complete": ("POST",),
    "/v1/cells/{cell}/imports": ("GET", "POST"),
    "/v1/cells/{cell}/imports/{operationId}": ("GET",),
    "/v1/cells/{cell}/imports/{operationId}/errors": ("GET",),
    "/v1/cells/{cell}/imports/{operationId}/cancel": ("POST",),
    "/v1/cells/{cell}/imports/{operationId}/retry": ("POST",),
}
#: On every response: a page of any origin may call the API (a bearer credential authenticates,
#: never a cookie) and read the headers it answers with besides the safelisted ones.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, Retry-After, WWW-Authenticate",
}
#: What a preflight allows besides the resource's methods: the request headers the API reads.
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_MAX_AGE_SECONDS = 86400


def options_response(methods: tuple[str, ...]) -> dict[str, Any]:
    """OPTIONS of a resource, a CORS preflight or not: 204 with its methods, no credential needed."""
    allowed = ", ".join((*methods, "OPTIONS"))
    headers = CORS_HEADERS | {
        "Allow": allowed,
        "Access-Control-Allow-Methods": allowed,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
    }
    return Answer(204, headers=headers).proxy()


def resolve(app: Any, event: dict[str, Any], context: Any) -> dict:
    """Runs a /v1 function's router (bulk_import.api.rest's or Powertools') behind the API's CORS:
    OPTIONS of a resource is answered before routing, every other response carries CORS_HEADERS."""
    methods = RESOURCE_METHODS.get(event.get("resource") or "")
    if event.get("httpMethod") == "OPTIONS" and methods:
        return options_response(methods)
    return set_response_headers(app.resolve(event, context), CORS_HEADERS)

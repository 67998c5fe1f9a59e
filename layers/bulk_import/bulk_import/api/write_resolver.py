"""The write functions' router: Powertools' APIGatewayRestResolver with its validation, as its
documentation shows (docs/decisions/0002-cold-start-budget.md: the status reads keep the lean
bulk_import.api.rest instead).

Each dialect maps errors to its answers in one place (`personium.answer_error`,
`rocketchat.answer_error`, `native.problems.answer_error`), which both routers use: here as the
exception handler of every error and of an unknown route. Answers keep the dialects' bytes: JSON as
`rest.json_text` writes it (characters beyond ASCII as they are), bodies read as `rest.parse_json`
reads them (no NaN), a body-less answer without Content-Type.

The routes declare the answers they return in `responses` (`json_answer`) rather than as return
annotations, which Powertools' validation would check on every answer: what this code built is
already typed (mypy), and checking it again would cost the cold start a pydantic schema per answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from bulk_import.api.common import ProxyRequest
from bulk_import.api.rest import Answer, RouteNotFound, json_text, parse_json

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


def as_response(answer: Answer) -> Response:
    """A dialect's answer as Powertools sends it: the same status, headers and body."""
    content_type = {"Content-Type": answer.content_type} if answer.body and answer.content_type else {}
    return Response(answer.status_code, body=answer.body or "", headers=content_type | answer.headers)


def binary_response(status_code: int, body: bytes, content_type: str, headers: dict[str, str]) -> Response:
    """An answer of bytes: Powertools encodes them in base64 and says so (isBase64Encoded), which
    API Gateway decodes for a request whose Accept is one of the API's binary media types."""
    return Response(status_code, content_type=content_type, body=body, headers=headers)


def json_answer(model: Any, description: str = "Successful Response") -> OpenAPIResponse:
    """An answer of a route in the OpenAPI document: `model` (a TypedDict or a pydantic model) as JSON."""
    return {"description": description, "content": {"application/json": {"model": model}}}


def write_resolver(answer_error: Callable[[Exception, ProxyRequest], Answer]) -> APIGatewayRestResolver:
    """A resolver whose errors, and unknown routes, are answered by `answer_error` (a dialect's)."""
    app = APIGatewayRestResolver(enable_validation=True, serializer=json_text, json_body_deserializer=parse_json)

    @app.not_found
    def route_not_found(error: NotFoundError) -> Response:
        event = app.current_event
        return as_response(answer_error(RouteNotFound(f"{event.http_method} {event.path}"), event))

    @app.exception_handler(Exception)
    def refused(error: Exception) -> Response:
        return as_response(answer_error(error, app.current_event))

    return app

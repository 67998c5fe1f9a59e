"""Answering API Gateway's REST proxy events without Powertools' event handler: the routers of the
status and read functions, which serve the status reads clients poll and so stay lean
(docs/decisions/0002-cold-start-budget.md). The write functions route with Powertools'
APIGatewayRestResolver (api/write_resolver.py).

A function has a few routes, matched against the event's path (API Gateway has routed the request
to the function already). Route functions have the signatures Powertools' routes have (path
parameters as arguments, the answer's type as return annotation), so the OpenAPI generator declares
them on a Powertools resolver (`Router.declare`). CORS is each dialect's own (`personium.resolve`,
`rocketchat.resolve`, `native.cors.resolve`): Personium and Rocket.Chat each answer a preflight
their own way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

APPLICATION_JSON = "application/json"


def json_text(body: Any) -> str:
    """A response body as compact JSON, characters beyond ASCII as they are."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class Headers(dict[str, str]):
    """Request headers, looked up whatever their case (HTTP header names are case-insensitive)."""

    def __init__(self, headers: dict[str, str] | None) -> None:
        super().__init__({name.lower(): value for name, value in (headers or {}).items()})

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class RequestContext:
    domain_name: str | None
    #: The path the client called, with the stage (or a custom domain's base path).
    path: str | None


class Request:
    """What the dialects read of a REST proxy event (KeyError for an event that is not one: it fails
    the invocation, as Powertools' resolver does)."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.raw_event = event
        self.http_method: str = event["httpMethod"]
        self.path: str = event["path"]
        self.headers = Headers(event.get("headers"))
        self.query_string_parameters: dict[str, str] = event.get("queryStringParameters") or {}
        self.multi_value_query_string_parameters: dict[str, list[str]] = (
            event.get("multiValueQueryStringParameters") or {}
        )
        self.body: str | None = event.get("body")
        self.is_base64_encoded: bool = bool(event.get("isBase64Encoded"))
        context = event.get("requestContext") or {}
        self.request_context = RequestContext(domain_name=context.get("domainName"), path=context.get("path"))


@dataclass(frozen=True)
class Answer:
    """A response: status, body (text), Content-Type (None without a body) and other headers."""

    status_code: int
    body: str | None = None
    content_type: str | None = APPLICATION_JSON
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, body: Any, status_code: int = 200) -> Answer:
        return cls(status_code, json_text(body))

    def proxy(self) -> dict[str, Any]:
        """As Lambda's proxy integration returns it."""
        content_type = {"Content-Type": [self.content_type]} if self.body and self.content_type else {}
        return {
            "statusCode": self.status_code,
            "multiValueHeaders": content_type | {name: [value] for name, value in self.headers.items()},
            "body": self.body or "",
            "isBase64Encoded": False,
        }


def by_class(table: Mapping[type, T], error: Exception) -> T | None:
    """`table`'s entry for the error's class or, failing that, its nearest listed base class: the
    error handler that answers it, as exception handlers are chosen."""
    return next((table[kind] for kind in type(error).__mro__ if kind in table), None)


class RouteNotFound(Exception):
    """No route of this function has the event's method and path (API Gateway would not send it)."""


@dataclass(frozen=True)
class Route:
    method: str
    #: API Gateway's resource: /{CellName}/__import.
    resource: str
    function: Callable[..., Any]
    #: What the OpenAPI document says of it (Powertools' route options: summary, tags, responses...).
    openapi: dict[str, Any]
    #: The paths of the resource, its parameters as named groups (built once, when the route is declared).
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.resource))
        object.__setattr__(self, "pattern", re.compile(pattern))

    def path_parameters(self, path: str) -> dict[str, str] | None:
        """The resource's parameters in `path`; None if `path` is not this resource's."""
        matched = self.pattern.fullmatch(path)
        return matched.groupdict() if matched else None


class Router:
    """Routes a function's events to its route functions; every exception becomes `answer_error`'s
    answer (given the exception and the request). A route function returns an Answer, or a body
    that is answered 200 as JSON."""

    def __init__(self, answer_error: Callable[[Exception, Request], Answer]) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.answer_error = answer_error
        self.current_event = Request({"httpMethod": "", "path": ""})
        #: The invocation's Lambda context (None outside Lambda).
        self.lambda_context: Any = None

    def route(self, method: str, resource: str, **openapi: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.routes[(method, resource)] = Route(method, resource, function, openapi)
            return function

        return register

    def get(self, resource: str, **openapi: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("GET", resource, **openapi)

    def post(self, resource: str, **openapi: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("POST", resource, **openapi)

    def resolve(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        self.current_event = request = Request(event)
        self.lambda_context = context
        try:
            route, parameters = self._match(request)
            result = route.function(**parameters)
            answer = result if isinstance(result, Answer) else Answer.json(result)
        except Exception as error:
            answer = self.answer_error(error, request)
        return answer.proxy()

    def _match(self, request: Request) -> tuple[Route, dict[str, str]]:
        for route in self.routes.values():
            parameters = route.path_parameters(request.path) if route.method == request.http_method else None
            if parameters is not None:
                return route, parameters
        raise RouteNotFound(f"{request.http_method} {request.path}")

    def declare(self, app: Any) -> None:
        """Declares the routes on a Powertools resolver `app`, for its OpenAPI document."""
        for route in self.routes.values():
            path = route.resource.replace("{", "<").replace("}", ">")
            app.route(path, method=route.method, **route.openapi)(route.function)


#: The end of the message of a json.JSONDecodeError for NaN or Infinity (parse_json).
NOT_A_JSON_NUMBER = "is not a JSON number"


def parse_json(text: str) -> Any:
    """`text` as JSON; json.JSONDecodeError if it is not, NaN and Infinity included, which Python's
    json reads and JSON has not."""
    return json.loads(text, parse_constant=_not_json)


def _not_json(constant: str) -> Any:
    raise json.JSONDecodeError(f"{constant} {NOT_A_JSON_NUMBER}", constant, 0)

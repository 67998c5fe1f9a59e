"""Answering API Gateway's REST proxy events without Powertools' event handler: every API function
but the docs routes with this.

A function has a few routes, matched against the event's path as Powertools matches them (API
Gateway has routed the request to the function already). Importing Powertools' event handler costs
a tenth of a bare boto3 function's cold start (all its resolvers, asyncio among them, and every
event class): more than half of what a status read may add (docs/benchmarks.md). Route functions
have the signatures Powertools' routes have (path parameters as arguments, the answer's type as
return annotation), so the OpenAPI generator declares them on a Powertools resolver (`Router.declare`).
CORS is each dialect's own (`personium.resolve`, `rocketchat.resolve`, `native.resolve`), not
Powertools' CORSConfig, which answers every preflight one way: Personium and Rocket.Chat each answer
it their own way.
"""

from __future__ import annotations

import inspect
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


class ReadingRoute:
    """A route function called with more than its path parameters: values `read` from the request
    before it runs (a query, a body), where Powertools' validation would have passed them.

    Powertools reads a route's signature to document it. `__signature__` gives it the function's,
    each parameter `declared` annotated and defaulted as a route validated by Powertools declares
    it, so the OpenAPI document describes them as such. It is built when asked for, since the
    annotations load pydantic; Powertools asks only when the document is generated."""

    def __init__(self, app: Router, function: Callable[..., Any]) -> None:
        self.__name__ = function.__name__  # Powertools names the operation after it
        self.__globals__ = function.__globals__  # where Powertools resolves the function's annotations
        self.app, self.function = app, function

    def read(self, request: Request) -> dict[str, Any]:
        """The values of the parameters read from `request`, by name."""
        raise NotImplementedError

    def declared(self) -> dict[str, tuple[Any, Any]]:
        """(annotation, default) of each parameter read, by name, as Powertools would declare it."""
        raise NotImplementedError

    def __call__(self, **path_parameters: str) -> Any:
        return self.function(**path_parameters, **self.read(self.app.current_event))

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.function)
        declared = self.declared()
        return signature.replace(
            parameters=[
                parameter.replace(annotation=declared[name][0], default=declared[name][1])
                if name in declared
                else parameter
                for name, parameter in signature.parameters.items()
            ]
        )


def parse_json(text: str) -> Any:
    """`text` as JSON, ValueError (a JSONDecodeError where its syntax is wrong) if it is not: NaN and
    Infinity too, which Python's json reads and JSON has not."""
    return json.loads(text, parse_constant=_not_json)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")

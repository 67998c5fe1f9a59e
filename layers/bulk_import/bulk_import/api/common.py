"""Pieces both dialects' HTTP adapters share."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from typing_extensions import TypedDict

T = TypeVar("T")


class ProxyRequest(Protocol):
    """A REST proxy event as bulk_import.api.rest and Powertools' APIGatewayProxyEvent both read it."""

    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Any: ...
    @property
    def request_context(self) -> Any: ...
    @property
    def body(self) -> str | None: ...
    @property
    def query_string_parameters(self) -> Any: ...


class OperationCounts(TypedDict):
    """Per-type totals and the processed records (Rocket.Chat's operation.count; /v1's counts)."""

    total: int
    users: int
    messages: int
    channels: int
    completed: int
    error: int


def answer_shape(cls: T) -> T:
    """Configures how pydantic reads the TypedDict `cls` of an answer, which it does only to describe
    it in the OpenAPI document: each field described by the docstring under it, and nothing built
    until the description is asked for (`defer_build`; Powertools builds a write route's description
    with its first request). At run time nothing validates what this code built."""
    cls.__pydantic_config__ = {"use_attribute_docstrings": True, "defer_build": True}  # type: ignore[attr-defined]
    return cls


def present(**fields: Any) -> Any:
    """A response body of these fields but those that are None: both dialects leave out what does not
    apply (Personium's started_at while ready, Rocket.Chat's operation when there is none). Bodies
    are dicts typed by TypedDicts (the OpenAPI document is generated from those), not pydantic
    models: the status reads answer without loading pydantic (docs/decisions/0002-cold-start-budget.md)."""
    return {name: value for name, value in fields.items() if value is not None}


def set_response_headers(response: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """Adds headers to a Lambda proxy response, in whichever header form it already uses."""
    if "multiValueHeaders" in response:
        response["multiValueHeaders"] = {
            **(response["multiValueHeaders"] or {}),
            **{k: [v] for k, v in headers.items()},
        }
    else:
        response["headers"] = {**(response.get("headers") or {}), **headers}
    return response


def _origin(event: ProxyRequest) -> str:
    host = event.headers.get("Host") or event.request_context.domain_name
    return f"{event.headers.get('X-Forwarded-Proto', 'https')}://{host}"


def request_url(event: ProxyRequest) -> str:
    """The URL the client called, for Location headers (behind a custom domain, its own host)."""
    return _origin(event) + (event.request_context.path or event.path)


def url_of(event: ProxyRequest, path: str) -> str:
    """The URL of another route of this API as the client reaches it: same host, same stage prefix."""
    called = event.request_context.path or event.path
    return _origin(event) + (called[: -len(event.path)] if called.endswith(event.path) else "") + path

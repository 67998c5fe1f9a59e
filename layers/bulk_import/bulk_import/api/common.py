"""Pieces both dialects' HTTP adapters share."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ConfigDict, model_serializer


class WireModel(BaseModel):
    """A response body: fields that are None are absent from the JSON, never null.

    Both dialects leave out what does not apply (Personium's started_at while ready, Rocket.Chat's
    operation when there is none), and Powertools serialises return values through this.
    """

    # defer_build: a model's validator and serializer are built when first used, not when its
    # module loads; each function answers with a few of these, and building the others would
    # only lengthen its cold start.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, frozen=True, defer_build=True)

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: Any) -> dict[str, Any]:
        return {name: value for name, value in handler(self).items() if value is not None}


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


def _origin(event: APIGatewayProxyEvent) -> str:
    host = event.headers.get("Host") or event.request_context.domain_name
    return f"{event.headers.get('X-Forwarded-Proto', 'https')}://{host}"


def request_url(event: APIGatewayProxyEvent) -> str:
    """The URL the client called, for Location headers (behind a custom domain, its own host)."""
    return _origin(event) + (event.request_context.path or event.path)


def url_of(event: APIGatewayProxyEvent, path: str) -> str:
    """The URL of another route of this API as the client reaches it: same host, same stage prefix."""
    called = event.request_context.path or event.path
    return _origin(event) + (called[: -len(event.path)] if called.endswith(event.path) else "") + path

"""The /v1 read routes' query parameters, and the cursors of their listings.

The read function answers without pydantic and Powertools' event handler (the reads clients poll
stay lean: docs/decisions/0002-cold-start-budget.md), so it reads its few query parameters itself,
by this API's rules: `limit` in decimal digits, `state` one of ImportState's values, each parameter
sent once. A refused value is an InvalidRequest naming the parameter and what it must be; the
OpenAPI document states the same rules (QueryParameter.annotation, docs/api.md).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any

from bulk_import.api.native.problems import InvalidRequest
from bulk_import.api.rest import Router
from bulk_import.domain.errors import InvalidCursor
from bulk_import.domain.operation import ImportState

# -- cursors ---------------------------------------------------------------------------------------


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """An opaque cursor for a DynamoDB start key (numbers become strings: keys here are strings)."""
    if key is None:
        return None
    plain = {name: str(value) if isinstance(value, Decimal) else value for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor from exc
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise InvalidCursor
    return key


# -- query parameters ------------------------------------------------------------------------------


class QueryParameter:
    """A query parameter of a read route: `parse` reads its value, or says what it must be.
    (Plain classes, not dataclasses: the cold start builds these.)"""

    def __init__(self, name: str, description: str, default: Any = None) -> None:
        self.name, self.description = name, description
        #: The value when the parameter is not sent.
        self.default = default

    def parse(self, value: str) -> Any:
        """The parameter's value sent as `value`; ValueError saying what it must be if it is not valid."""
        raise NotImplementedError

    def annotation(self) -> Any:
        """The parameter as a Powertools route declares it, for the OpenAPI document. It loads
        Powertools' params and pydantic: only QueryRoute.__signature__ calls it, when the document is
        generated."""
        raise NotImplementedError


class PageSize(QueryParameter):
    """How many items a page of a listing holds: `default` when the parameter is not sent."""

    def __init__(self, default: int, minimum: int = 1, maximum: int = 1000) -> None:
        rule = f"a whole number from {minimum} to {maximum}"
        super().__init__("limit", f"Items per page: {rule}, in decimal digits (default {default})", default)
        self.minimum, self.maximum, self.rule = minimum, maximum, rule

    def parse(self, value: str) -> int:
        digits = value.lstrip("0") or "0"
        # Only ASCII digits (str.isdigit takes other scripts' too); no more digits than the maximum
        # has, so that int() never reads a long text.
        if not (digits.isascii() and digits.isdigit()) or len(digits) > len(str(self.maximum)):
            raise ValueError(f"must be {self.rule}")
        number = int(digits)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(f"must be {self.rule}")
        return number

    def annotation(self) -> Any:
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Annotated[int, Query(ge=self.minimum, le=self.maximum, description=self.description)]


class Text(QueryParameter):
    """Any text, optional."""

    def parse(self, value: str) -> str:
        return value

    def annotation(self) -> Any:
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Annotated[str | None, Query(description=self.description)]


_STATES = [state.value for state in ImportState]


class StateFilter(QueryParameter):
    """One of the ImportState values, optional."""

    def parse(self, value: str) -> ImportState:
        if value not in _STATES:
            raise ValueError(f"must be one of {', '.join(_STATES)}")
        return ImportState(value)

    def annotation(self) -> Any:
        from aws_lambda_powertools.event_handler.openapi.params import Query

        return Annotated[ImportState | None, Query(description=self.description)]


CURSOR = Text("cursor", "nextCursor of the previous page")
STATE = StateFilter("state", "Only imports in this state")


def query_values(event: Any, name: str) -> list[str]:
    """Every value sent for the query parameter `name` of a REST API event (none when not sent)."""
    values = event.multi_value_query_string_parameters.get(name)
    if values is not None:
        return list(values)
    value = event.query_string_parameters.get(name)
    return [] if value is None else [value]


def read_query(event: Any, parameters: Sequence[QueryParameter]) -> dict[str, Any]:
    """The value of each of `parameters` by name, its default when it was not sent; InvalidRequest
    with an error per invalid one (`query.limit: must be ...`)."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    for parameter in parameters:
        sent = query_values(event, parameter.name)
        try:
            if len(sent) > 1:
                raise ValueError(f"must be sent once, not {len(sent)} times")
            values[parameter.name] = parameter.parse(sent[0]) if sent else parameter.default
        except ValueError as error:
            errors.append(f"query.{parameter.name}: {error}")
    if errors:
        raise InvalidRequest(errors)
    return values


class QueryRoute:
    """A read route function called with its query parameters too, read by read_query before it runs.

    Powertools reads a route's signature to document it: `__signature__` gives it the function's,
    each query parameter annotated as a Powertools route declares it, so that the OpenAPI document
    describes them. It is built when asked for, since the annotations load pydantic; Powertools asks
    only when the document is generated."""

    def __init__(self, app: Router, function: Callable[..., Any], parameters: Sequence[QueryParameter]) -> None:
        self.__name__ = function.__name__  # Powertools names the operation after it
        self.__globals__ = function.__globals__  # where Powertools resolves the function's annotations
        self.app, self.function, self.parameters = app, function, parameters

    def __call__(self, **path_parameters: str) -> Any:
        return self.function(**path_parameters, **read_query(self.app.current_event, self.parameters))

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.function)
        declared = {parameter.name: parameter for parameter in self.parameters}
        return signature.replace(
            parameters=[
                parameter.replace(annotation=declared[name].annotation(), default=declared[name].default)
                if name in declared
                else parameter
                for name, parameter in signature.parameters.items()
            ]
        )


def with_query(app: Router, *parameters: QueryParameter) -> Callable[[Callable[..., Any]], QueryRoute]:
    """Decorates a route function (below the route) that takes `parameters` by name besides its path
    parameters."""
    return lambda function: QueryRoute(app, function, parameters)

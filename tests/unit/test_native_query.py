"""The query parameters the native read function reads by hand instead of through Powertools'
validation (which would load pydantic: tests/integration/test_sam_local_invoke.py checks it does
not) are read, and refused, as that validation reads and refuses them."""

from typing import Annotated

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import Field, TypeAdapter, ValidationError

from bulk_import.api import native
from bulk_import.domain.operation import ImportState

INTEGERS = [
    "1",
    "20",
    "1000",
    "0",
    "-0",
    "1001",
    "-1",
    "007",
    "+5",
    " 5 ",
    "\t5\n",
    "1_000",
    "1_0",
    "_10",
    "10_",
    "1__0",
    "1.0",
    "1.00",
    "1.",
    ".5",
    "1.5",
    "1.0_0",
    "1_0.0",
    "1e2",
    "0x10",
    "0b1",
    "",
    " ",
    "abc",
    "2,3",
    "+ 1",
    "\u0665",
    "\u0665" * 20,
    "\uff11",
    "\u00a05",
    "5\u3000",
    "\x1c5",
    "9" * 30,
    "-" + "9" * 30,
    "0" * 5000,
    "9" * 4300,
    "9" * 4301,
    "-" + "9" * 5000,
]
TEXTS = ["", "abc", "a,b", " x "]
STATES = [*(state.value for state in ImportState), "DONE", "sleeping", "", " done"]


def pydantic_says(adapter: TypeAdapter, value) -> tuple[str, object]:
    """What Powertools' validation makes of `value`: ("ok", the value) or ("error", its message)."""
    try:
        return "ok", adapter.validate_python(value)
    except ValidationError as error:
        return "error", error.errors()[0]["msg"]


def read_says(parameter: native.QueryParameter, value) -> tuple[str, object]:
    try:
        return "ok", parameter.parse(value)
    except ValueError as error:
        return "error", str(error)


@pytest.mark.parametrize("value", [*INTEGERS, ["1", "2"], []])
def test_a_page_size_is_read_as_pydantic_validates_it(value):
    adapter = TypeAdapter(Annotated[int, Field(ge=1, le=1000)])
    assert read_says(native.PageSize(default=20), value) == pydantic_says(adapter, value)


@pytest.mark.parametrize("value", [*TEXTS, ["a", "b"]])
def test_a_cursor_is_read_as_pydantic_validates_it(value):
    assert read_says(native.CURSOR, value) == pydantic_says(TypeAdapter(str | None), value)


@pytest.mark.parametrize("value", [*STATES, ["done", "new"]])
def test_a_state_is_read_as_pydantic_validates_it(value):
    assert read_says(native.STATE, value) == pydantic_says(TypeAdapter(ImportState | None), value)


def event(query: dict[str, list[str]] | None) -> APIGatewayProxyEvent:
    return APIGatewayProxyEvent(
        {
            "queryStringParameters": {name: values[-1] for name, values in query.items()} if query else None,
            "multiValueQueryStringParameters": query,
        }
    )


def test_every_invalid_parameter_is_named_and_missing_ones_take_their_defaults():
    parameters = (native.PageSize(default=100), native.CURSOR, native.STATE)
    assert native.read_query(event(None), parameters) == {"limit": 100, "cursor": None, "state": None}
    assert native.read_query(event({"limit": ["7"], "state": ["done"]}), parameters) == {
        "limit": 7,
        "cursor": None,
        "state": ImportState.DONE,
    }
    with pytest.raises(native.InvalidRequest) as refused:
        native.read_query(event({"limit": ["0"], "cursor": ["a", "b"], "state": ["x"]}), parameters)
    assert [error["loc"] for error in refused.value.errors] == [
        ("query", "limit"),
        ("query", "cursor"),
        ("query", "state"),
    ]

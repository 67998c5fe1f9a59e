"""The query parameters of the native read routes, read by this API's own rules (the read function
stays without pydantic: tests/integration/test_sam_local_invoke.py checks it): `limit` a whole
number in decimal digits within its bounds, `state` one of the import states, each parameter sent
once; a refusal names the parameter and says what it must be."""

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from bulk_import.api.native import queries
from bulk_import.api.native.problems import InvalidRequest
from bulk_import.domain.errors import InvalidCursor
from bulk_import.domain.operation import ImportState

PAGE_SIZE = queries.PageSize(default=20)


@pytest.mark.parametrize(("text", "number"), [("1", 1), ("20", 20), ("1000", 1000), ("007", 7), ("0" * 50 + "5", 5)])
def test_a_page_size_is_a_whole_number_in_decimal_digits(text, number):
    assert PAGE_SIZE.parse(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "1001",
        "9" * 5000,  # refused before int() reads it
        "-1",
        "+5",
        " 5",
        "5 ",
        "1_000",
        "1.0",
        "1e2",
        "0x10",
        "",
        "abc",
        "\u0665",  # a digit, of another script
        "\uff11",
    ],
)
def test_any_other_page_size_is_refused_with_its_bounds(text):
    with pytest.raises(ValueError) as refused:
        PAGE_SIZE.parse(text)
    assert str(refused.value) == "must be a whole number from 1 to 1000"


def test_a_state_is_one_of_the_import_states_as_written():
    assert [queries.STATE.parse(state.value) for state in ImportState] == list(ImportState)
    for text in ["DONE", " done", "", "sleeping"]:
        with pytest.raises(ValueError) as refused:
            queries.STATE.parse(text)
        assert str(refused.value) == "must be one of none, new, loading, ready, importing, error, canceled, done"


def test_a_cursor_is_any_text():
    assert [queries.CURSOR.parse(text) for text in ["", "abc", " x "]] == ["", "abc", " x "]


def event(query: dict[str, list[str]] | None) -> APIGatewayProxyEvent:
    return APIGatewayProxyEvent(
        {
            "queryStringParameters": {name: values[-1] for name, values in query.items()} if query else None,
            "multiValueQueryStringParameters": query,
        }
    )


def test_missing_parameters_take_their_defaults():
    parameters = (queries.PageSize(default=100), queries.CURSOR, queries.STATE)
    assert queries.read_query(event(None), parameters) == {"limit": 100, "cursor": None, "state": None}
    assert queries.read_query(event({"limit": ["7"], "state": ["done"]}), parameters) == {
        "limit": 7,
        "cursor": None,
        "state": ImportState.DONE,
    }


def test_every_invalid_parameter_is_named_with_what_it_must_be():
    parameters = (queries.PageSize(default=100), queries.CURSOR, queries.STATE)
    with pytest.raises(InvalidRequest) as refused:
        queries.read_query(event({"limit": ["0"], "cursor": ["a", "b"], "state": ["x"]}), parameters)
    assert refused.value.errors == [
        "query.limit: must be a whole number from 1 to 1000",
        "query.cursor: must be sent once, not 2 times",
        "query.state: must be one of none, new, loading, ready, importing, error, canceled, done",
    ]


def test_a_parameter_without_its_multi_value_form_is_read_too():
    only_single = APIGatewayProxyEvent({"queryStringParameters": {"limit": "3"}})
    assert queries.read_query(only_single, [PAGE_SIZE]) == {"limit": 3}


def test_a_cursor_round_trips_and_a_foreign_one_is_refused():
    key = {"PK": "CELL#demo", "SK": "OP#1"}
    assert queries.decode_cursor(queries.encode_cursor(key)) == key
    with pytest.raises(InvalidCursor):
        queries.decode_cursor("not a cursor")

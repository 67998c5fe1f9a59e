"""import.addUsers' body, read by its model as Rocket.Chat's AJV validator checks it: each body of
tests/unit/ajv/bodies.json against AJV's own answer (expected.json, recorded by
tests/unit/ajv/add_users_cases.py with ajv 8 and Rocket.Chat's schema and options)."""

import json
from pathlib import Path

import pytest

from bulk_import.api.rocketchat import InvalidParams
from bulk_import.api.rocketchat_requests import add_users_request

HERE = Path(__file__).parent / "ajv"
CASES = list(
    zip(json.loads((HERE / "bodies.json").read_text()), json.loads((HERE / "expected.json").read_text()), strict=True)
)


@pytest.mark.parametrize(("body", "expected"), CASES, ids=[body[:60] for body, _ in CASES])
def test_a_body_is_answered_as_ajv_answers_it(body, expected):
    if expected["valid"]:
        assert add_users_request(body).user_records() == expected["users"]
    else:
        with pytest.raises(InvalidParams) as refused:
            add_users_request(body)
        assert str(refused.value) == f"{expected['error']} [invalid-params]"


def test_the_corpus_has_valid_and_refused_bodies_of_every_kind():
    errors = {expected["error"].split(" '")[0] for _, expected in CASES if not expected["valid"]}
    assert sum(expected["valid"] for _, expected in CASES) >= 20
    assert errors == {
        "must be object",
        "must have required property",
        "must NOT have additional properties",
        "must be array",
        "must be string",
        "must be number",
        "must be boolean",
    }

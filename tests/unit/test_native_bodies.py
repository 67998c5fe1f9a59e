"""The /v1 bodies read by hand (bulk_import.api.native_bodies) against their pydantic models
(bulk_import.api.native_requests, which the OpenAPI document describes): for each body, both accept
it with the same values, or both refuse it with the same errors."""

import json

import pytest
from pydantic import ValidationError

from bulk_import.api import native_bodies, native_requests
from bulk_import.api.native import InvalidRequest
from bulk_import.logic.uploads import MAX_UPLOAD_SIZE

UPLOAD_ID = "0123456789abcdef01234567"
USER = {"type": "user", "username": "ann", "emails": ["ann@example.com"]}

BODIES = {
    "UploadRequest": [
        {"filename": "users.zip"},
        {"filename": "users.zip", "size": 10},
        {"filename": "a", "size": None},
        {"filename": "a", "extra": 1},
        {"filename": "a", "size": True},
        {"filename": "a", "size": False},
        {"filename": "a", "size": 5.0},
        {"filename": "a", "size": 5.5},
        {"filename": "a", "size": " 7 "},
        {"filename": "a", "size": "7.0"},
        {"filename": "a", "size": "1_000"},
        {"filename": "a", "size": "x"},
        {"filename": "a", "size": "1e3"},
        {"filename": "a", "size": -1},
        {"filename": "a", "size": MAX_UPLOAD_SIZE},
        {"filename": "a", "size": MAX_UPLOAD_SIZE + 1},
        {"filename": "a", "size": []},
        {"filename": "a", "size": {}},
        {},
        {"size": 3},
        {"filename": None},
        {"filename": 3},
        {"filename": ""},
        {"filename": "a" * 255},
        {"filename": "a" * 256},
        {"filename": "a/b"},
        {"filename": "a\\b"},
        {"filename": "a\n"},
        {"filename": "\x1f"},
        {"filename": "é.zip"},
        {"filename": "", "size": -2},
        [],
        "x",
        5,
        True,
    ],
    "CompleteUploadRequest": [
        {"etags": ["a"]},
        {"etags": ["a", "b"]},
        {"etags": []},
        {"etags": None},
        {},
        {"etags": "a"},
        {"etags": [1, "a", None]},
        {"etags": [[]]},
        {"etags": ["a"] * 10_000},
        {"etags": ["a"] * 10_001},
        {"etags": {}},
        [],
    ],
    "StartImportRequest": [
        {"uploadId": UPLOAD_ID},
        {"uploadId": UPLOAD_ID, "name": "n"},
        {"records": [USER]},
        {"records": [USER, {"type": "channel", "name": "c"}, {"type": "message", "msg": "m"}], "name": None},
        {},
        {"uploadId": None, "records": None},
        {"uploadId": UPLOAD_ID, "records": [USER]},
        {"uploadId": "zz"},
        {"uploadId": UPLOAD_ID.upper()},
        {"uploadId": UPLOAD_ID + "\n"},
        {"uploadId": 5},
        {"records": []},
        {"records": "x"},
        {"records": [1, {"type": "x"}, {}, None, []]},
        {"records": [{"type": None}]},
        {"records": [{"type": "USER"}]},
        {"records": [USER] * 10_001},
        {"records": [USER], "name": "n" * 256},
        {"records": [USER], "name": "n" * 257},
        {"records": [USER], "name": 5},
        {"uploadId": "zz", "name": 5},
        {"records": [{}], "uploadId": "zz"},
        [],
    ],
    "RetryRequest": [
        {},
        {"corrections": {}},
        {"corrections": {"user:1": {"emails": ["a@x"]}}},
        {"corrections": {"channel:0": {}, "message:12": {"a": 1}}},
        {"corrections": None},
        {"corrections": []},
        {"corrections": "x"},
        {"corrections": {"bad": {}}},
        {"corrections": {"user:1": 5}},
        {"corrections": {"bad": 1, "user:1": 2, "user:2": {}}},
        {"corrections": {"user:x": {}}},
        {"corrections": {"user:1\n": {}}},
        {"corrections": {f"user:{n}": {} for n in range(10_001)}},
        {"other": 1},
        [],
    ],
}
CASES = [(model, body) for model, bodies in BODIES.items() for body in bodies]


def pydantic_answer(model: str, body):
    try:
        value = getattr(native_requests, model).model_validate(body, from_attributes=True)
    except ValidationError as error:
        return [(("body", *detail["loc"]), detail["msg"]) for detail in error.errors(include_url=False)]
    return json.loads(value.model_dump_json())


def hand_answer(model: str, body):
    try:
        value = native_bodies.read(model, body)
    except InvalidRequest as error:
        return [(tuple(detail["loc"]), detail["msg"]) for detail in error.errors]
    return json.loads(json.dumps(value.__dict__))


@pytest.mark.parametrize(("model", "body"), CASES, ids=[f"{model}-{json.dumps(body)[:50]}" for model, body in CASES])
def test_a_body_is_read_as_its_pydantic_model_reads_it(model, body):
    assert hand_answer(model, body) == pydantic_answer(model, body)


def test_the_corpus_has_valid_and_refused_bodies_of_every_model():
    for model, bodies in BODIES.items():
        answers = [pydantic_answer(model, body) for body in bodies]
        assert any(isinstance(answer, dict) for answer in answers), model
        assert any(isinstance(answer, list) for answer in answers), model

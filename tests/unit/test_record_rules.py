"""record_rules.plainly_valid against the records' models (records.parse_record): it may accept a
record only where the models accept it, and it accepts the plain records a retry's corrections are."""

from __future__ import annotations

import pytest

from bulk_import.domain.records.rules import plainly_valid
from bulk_import.domain.records.schema import RecordInvalid, parse_record

NAMES = ["ann", "a" * 64, "a" * 65, "", "ann\n", "ann bob", "änn", "a.b-c_d", 5, None, ["ann"], True]
TEXTS = [None, "s", "", "ü" * 10, 5, 1.5, True, ["s"], {"s": 1}]
LISTS_OF_TEXT = [[], ["x"], "x;y", [1], None, [None], ["x", "y"], ("x",)]
BOOLEANS = [True, False, "true", "yes", "no", 1, 0, 1.0, None, "maybe", "t", [True]]
EMAILS = [
    ["a@b.c"],
    [],
    ["A@B.CO"],
    ["a@b"],
    ["a b@c.d"],
    ["a@b.c\n"],
    ["ä@b.c"],
    "a@b.c",
    "a@b.c;d@e.f",
    [5],
    None,
    ["a@b.c", "bad"],
    ["a@@b.c"],
    ["a@b.c", "d@e.f"],
    ["a\x1c@b.c"],
    ["a\u00a0@b.c"],
    ["!#$%&'*+/=?^`{|}~@b.c"],
]
NUMBERS = [None, 1, 1.5, -3, True, "2", 10**20, 2**53, 2**53 + 1, 1e308, -0.0, [1]]

BASES = {
    "user": {"username": "ann", "emails": ["ann@example.com"]},
    "channel": {"name": "general", "creator": "ann"},
    "message": {"channel": "general", "username": "ann", "timestamp": 1700000000000, "text": "hi"},
}
VALUES = {
    "user": {
        "username": NAMES,
        "emails": EMAILS,
        "importIds": LISTS_OF_TEXT,
        "roles": LISTS_OF_TEXT,
        "name": [*TEXTS, "x" * 256, "x" * 257],
        "utcOffset": NUMBERS,
        "avatarUrl": TEXTS,
        "statusText": TEXTS,
        "type": TEXTS,
        "bio": TEXTS,
        "deleted": BOOLEANS,
        "unknown": [object(), None],
    },
    "channel": {"name": NAMES, "creator": NAMES, "private": BOOLEANS, "members": [*LISTS_OF_TEXT, ["ann", "b b"]]},
    "message": {
        "channel": NAMES,
        "username": NAMES,
        "text": [*TEXTS, "x" * 5001],
        "timestamp": [1700000000000, "2024-01-01T00:00:00Z", "yesterday", None],
    },
}


def cases() -> list[tuple[str, object]]:
    """Each record type's valid base, each field given each value and left out, and records that
    are not objects."""
    found: list[tuple[str, object]] = [("user", None), ("user", []), ("user", "ann"), ("nothing", BASES["user"])]
    for record_type, base in BASES.items():
        found.append((record_type, base))
        for field, values in VALUES[record_type].items():
            found.append((record_type, {name: value for name, value in base.items() if name != field}))
            found += [(record_type, base | {field: value}) for value in values]
    return found


def accepted_by_the_models(record_type: str, data: object) -> bool:
    try:
        parse_record(record_type, data)  # type: ignore[arg-type]
    except (RecordInvalid, ValueError):  # ValueError: not a record type
        return False
    return True


@pytest.mark.parametrize(("record_type", "data"), cases())
def test_a_record_is_plainly_valid_only_where_the_models_accept_it(record_type, data):
    if plainly_valid(record_type, data):
        assert accepted_by_the_models(record_type, data)


PLAIN_CORRECTIONS = [
    ("user", {"username": "carol", "emails": ["carol@example.com"]}),
    (
        "user",
        {
            "username": "carol",
            "emails": ["Carol@Example.com", "c@x.org"],
            "name": "Carol",
            "importIds": ["7"],
            "roles": ["user"],
            "deleted": False,
            "utcOffset": 9,
            "avatarUrl": None,
            "bio": "",
            "type": "user",
        },
    ),
    ("user", {"username": "c.a-r_ol", "emails": ["carol+tag@example.co.uk"], "line": 12}),
    ("channel", {"name": "general", "creator": "ann", "private": True, "members": ["ann", "bob"]}),
]


@pytest.mark.parametrize(("record_type", "data"), PLAIN_CORRECTIONS)
def test_plain_corrections_are_accepted_without_the_models(record_type, data):
    assert plainly_valid(record_type, data) and accepted_by_the_models(record_type, data)


def test_the_check_accepts_most_of_what_the_models_accept_among_plain_values():
    """Not vacuous: of the cases the models accept, the check leaves only the unusual to them."""
    accepted = [(record_type, data) for record_type, data in cases() if accepted_by_the_models(record_type, data)]
    plainly = [case for case in accepted if plainly_valid(*case)]
    assert len(accepted) > 60 and len(plainly) / len(accepted) > 0.6, (len(plainly), len(accepted))

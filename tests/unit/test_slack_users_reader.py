"""Slack's users CSV (its member list export), read as Rocket.Chat's slack-users importer reads it."""

import io
import json

import pytest

from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.lines import MalformedInput
from bulk_import.readers.slack_users import slack_user_records
from tests.support.slack_users_csv import csv_row, users_csv

USER = RecordType.USER


def read_users(content: bytes, cursor=None):
    return list(slack_user_records(io.BytesIO(content), "users.csv", cursor))


def test_users_csv_rules():
    content = users_csv(
        [
            csv_row("admin1", "admin1@example.com", "Admin", "Ada Admin"),
            csv_row("noemail", "", "Member", "No Email"),
            csv_row("bot1", "bot1@example.com", "Bot", "", "Botty"),
            csv_row("old", "old@example.com", "Deactivated"),
            csv_row("owner", "owner@example.com", "Primary Owner", "", ""),
            csv_row("guest", "guest@example.com", "Single-Channel Guest", "Gus"),
        ]
    )
    records = read_users(content)
    assert [(r.type, r.source, r.data, r.problem) for r in records] == [
        (
            USER,
            "users.csv:2",
            {
                "emails": ["admin1@example.com"],
                "importIds": ["admin1@example.com"],
                "username": "admin1",
                "name": "Ada Admin",
                "type": "user",
                "roles": ["admin"],
            },
            None,
        ),
        (
            USER,
            "users.csv:4",
            {
                "emails": ["bot1@example.com"],
                "importIds": ["bot1@example.com"],
                "username": "bot1",
                "name": "Botty",
                "type": "bot",
                "roles": ["bot"],
            },
            None,
        ),
        (
            USER,
            "users.csv:5",
            {
                "emails": ["old@example.com"],
                "importIds": ["old@example.com"],
                "username": "old",
                "name": "old",
                "type": "user",
                "deleted": True,
            },
            None,
        ),
        (
            USER,
            "users.csv:6",
            {
                "emails": ["owner@example.com"],
                "importIds": ["owner@example.com"],
                "username": "owner",
                "name": "owner",
                "type": "user",
            },
            None,
        ),
        (
            USER,
            "users.csv:7",
            {
                "emails": ["guest@example.com"],
                "importIds": ["guest@example.com"],
                "username": "guest",
                "name": "Gus",
                "type": "user",
            },
            None,
        ),
    ]


def test_users_csv_row_zero_is_skipped_whatever_it_holds():
    rows = [csv_row("first", "first@example.com", "Admin"), csv_row("second", "second@example.com", "Member")]
    records = read_users(users_csv(rows, header=False))
    assert [r.data["username"] for r in records] == ["second"]


def test_users_csv_quoted_line_breaks_and_resuming():
    content = users_csv(
        [
            csv_row("a", "a@example.com", "Member", "Line one\r\nline two"),
            csv_row("b", "b@example.com", "Member", 'Say "hi"\n\nafter a blank line'),
            csv_row("c", "c@example.com", "Member", "C"),
        ],
        newline="\r\n",
    )
    records = read_users(content)
    assert [(r.source, r.data["name"]) for r in records] == [
        ("users.csv:2", "Line one\nline two"),
        ("users.csv:4", 'Say "hi"\n\nafter a blank line'),
        ("users.csv:7", "C"),
    ]
    for position, record in enumerate(records):
        assert read_users(content, record.cursor) == records[position + 1 :]


def test_users_csv_malformed_rows_fail_alone():
    content = users_csv(
        [csv_row("a", "a@example.com", "Member"), ["short", "s@example.com"], csv_row("b", "b@example.com", "Member")]
    )
    content += b'"unterminated,x@example.com,Member\n'
    records = read_users(content)
    assert [(r.source, r.problem) for r in records] == [
        ("users.csv:2", None),
        ("users.csv:3", "expected 10 columns as in row 0, got 2"),
        ("users.csv:4", None),
        ("users.csv:5", "a quoted field is not closed at the end of the file"),
    ]


def test_users_csv_without_any_email_fails():
    with pytest.raises(MalformedInput, match="no users with an email"):
        read_users(users_csv([csv_row("a", "", "Member"), csv_row("b", "", "Admin")]))
    with pytest.raises(MalformedInput, match="no users with an email"):
        read_users(users_csv([]))


def test_users_csv_of_many_rows_is_read_line_by_line():
    rows = [csv_row(f"user{n}", f"user{n}@example.com" if n % 7 else "", "Member") for n in range(5000)]
    records = read_users(users_csv(rows))
    assert len(records) == sum(1 for row in rows if row[1])
    assert json.dumps(records[-1].data)  # storable

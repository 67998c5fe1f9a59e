"""Record rules: a record that breaks one fails alone, with a message naming the field."""

import pytest

from bulk_import.domain.records.schema import ChannelRecord, MessageRecord, RecordInvalid, UserRecord, parse_record


def test_a_rocketchat_user_is_accepted_and_emails_are_lower_cased():
    user = parse_record("user", {"username": "ada.l", "emails": ["Ada@Example.com"], "importIds": ["1"], "extra": 1})
    assert isinstance(user, UserRecord) and user.emails == ["ada@example.com"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"emails": ["a@example.com"]}, "username: is required"),
        ({"username": "a b", "emails": ["a@example.com"]}, "username: invalid format"),
        ({"username": "a", "emails": []}, "emails: at least one is required"),
        ({"username": "a", "emails": ["not-an-email"]}, "emails: invalid format"),
        ({"username": "a", "emails": ["a@example.com"], "name": "x" * 257}, "name: too long"),
    ],
)
def test_invalid_users_name_the_field(data, message):
    with pytest.raises(RecordInvalid, match=message):
        parse_record("user", data)


def test_csv_channel_fields_are_converted():
    channel = parse_record("channel", {"name": "general", "creator": "u1", "private": "true", "members": "u1;u2"})
    assert channel == ChannelRecord(name="general", creator="u1", private=True, members=["u1", "u2"])


def test_messages_take_milliseconds_or_iso_times():
    by_ms = parse_record("message", {"channel": "g", "username": "u", "timestamp": "1700000000000", "text": "hi"})
    by_iso = parse_record(
        "message", {"channel": "g", "username": "u", "timestamp": "2023-11-14T22:13:20Z", "text": "hi"}
    )
    assert isinstance(by_ms, MessageRecord) and by_ms.timestamp == by_iso.timestamp


def test_a_message_without_text_is_invalid():
    with pytest.raises(RecordInvalid, match="text: is required"):
        parse_record("message", {"channel": "g", "username": "u", "timestamp": 1})

"""A Slack export's records in the model's shapes: Slack's user ids resolved to user names, channels
and messages named as the model names them, from the start and from any cursor."""

import io
from collections import Counter

import pytest

from bulk_import.domain.records.schema import RecordInvalid, parse_record
from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.by_format import read_records
from bulk_import.readers.slack_names import slack_export_records
from tests.support.records import zipped as csv_zip
from tests.support.slack_exports import Export, channel, message, user, workspace_export

USER, CHANNEL, MESSAGE = RecordType.USER, RecordType.CHANNEL, RecordType.MESSAGE


def read(content: bytes, cursor=None):
    return list(slack_export_records(io.BytesIO(content), "export.zip", cursor))


def small_export() -> bytes:
    export = Export(
        users=[user("U1", "alice"), user("U2", "bob", email=""), user("U3", "carol")],
        channels=[
            channel("C1", "general", "U1", ["U1", "U2", "U9"], is_general=True),
            channel("C2", "orphan", "U9", ["U9", "U3"]),
        ],
        groups=[channel("G1", "secret", "U2", ["U1", "U2"])],
        dms=[{"id": "D1", "created": 1600000000, "members": ["U2", "U1"]}],
    )
    export.days["general/2020-09-13.json"] = [
        message(
            "1600000000.000100",
            "U1",
            "hi <@U2> and <@U9>",
            thread_ts="1600000000.000100",
            reply_count=1,
            reply_users=["U2"],
            latest_reply="1600000060.000100",
            reactions=[{"name": "eyes", "users": ["U3", "U9"]}],
        ),
        message(
            "1600000060.000100",
            "U2",
            "reply",
            thread_ts="1600000000.000100",
            edited={"user": "U2", "ts": "1600000070.000000"},
        ),
        message("1600000120.000100", "U9", "from someone users.json does not know"),
        message("1600000180.000100", None, "a bot without a user", subtype="bot_message"),
    ]
    export.days["D1/2020-09-13.json"] = [message("1600000000.000200", "U2", "direct")]
    return export.zip()


def test_users_are_kept_as_read_and_may_have_no_email():
    users = [record for record in read(small_export()) if record.type is USER]
    assert [r.data["username"] for r in users] == ["alice", "bob", "carol"]
    assert users[1].data["emails"] == [] and users[1].data["importIds"] == ["U2"]
    assert parse_record(USER, users[1].data, emails_required=False).emails == []
    with pytest.raises(RecordInvalid, match=r"^emails: at least one is required$"):
        parse_record(USER, users[1].data)  # a user of this product's own files needs one


def test_channels_are_named_with_user_names_and_a_direct_conversation_by_its_id():
    channels = {r.data["name"]: r.data for r in read(small_export()) if r.type is CHANNEL}
    general = channels["general"]
    assert (general["creator"], general["members"], general["private"], general["t"]) == (
        "alice",
        ["alice", "bob"],  # U9 is in no users.json: left out, as Rocket.Chat leaves it out
        False,
        "c",
    )
    assert general["importIds"] == ["C1"]
    assert channels["orphan"]["creator"] == "carol"  # its creator unknown: its first known member
    assert (channels["secret"]["private"], channels["secret"]["t"]) == (True, "p")
    assert (channels["D1"]["creator"], channels["D1"]["members"], channels["D1"]["t"]) == ("bob", ["bob", "alice"], "d")
    for data in channels.values():
        parse_record(CHANNEL, data)


def test_messages_carry_their_channel_author_thread_and_mentions_by_name():
    records = [r for r in read(small_export()) if r.type is MESSAGE]
    direct, parent, reply, stranger, bot = records  # day files in folder order: D1 before general
    assert (parent.data["channel"], parent.data["username"], parent.data["rid"]) == ("general", "alice", "C1")
    assert parent.data["text"] == "hi @bob and @U9"
    assert parent.data["mentions"] == ["bob", "U9"] and parent.data["replies"] == ["bob"]
    assert parent.data["reactions"] == {"name": {"name": ":eyes:", "users": ["carol"]}}
    assert reply.data["tmid"] == parent.data["importId"] == "slack-C1-1600000000-000100"
    assert reply.data["editedBy"] == "bob"
    assert stranger.problem == "the author U9 is not a user of users.json"
    assert bot.problem == "the message has no author (no user)"
    assert (direct.data["channel"], direct.data["direct"]) == ("D1", True)
    for record in (parent, reply, direct):
        assert record.problem is None
        parsed = parse_record(MESSAGE, record.data)
        assert parsed.username == record.data["username"]


def test_resuming_from_every_cursor_gives_exactly_the_rest():
    content = small_export()
    whole = read(content)
    for position, record in enumerate(whole):
        assert read(content, record.cursor) == whole[position + 1 :]


def test_a_busy_workspace_resolves_every_author_it_knows():
    export = workspace_export(channels=4, days=2, per_day=20)
    records = read(export.zip())
    counts = Counter(record.type for record in records)
    assert counts[USER] == len(export.users)
    assert counts[MESSAGE] == sum(len(day) for day in export.days.values())
    known = {u["name"] for u in export.users} | {"rocket.cat"}
    authors = {r.data.get("username") for r in records if r.type is MESSAGE and r.problem is None}
    assert authors and authors <= known
    mentioned = {name for r in records if r.type is MESSAGE for name in r.data.get("mentions", [])}
    assert mentioned and not {name for name in mentioned if name.startswith("U0")}


def test_a_slack_zip_is_read_as_slack_and_a_csv_zip_as_csv():
    slack = list(read_records(lambda: io.BytesIO(small_export())))
    assert slack[0].data["username"] == "alice" and slack[0].source == "users.json[0]"
    csv = list(read_records(lambda: io.BytesIO(csv_zip({"users.csv": b"username,email,name\nann,a@x.io,Ann\n"}))))
    assert [record.data["username"] for record in csv] == ["ann"]

"""Slack's export zip, read as Rocket.Chat's slack importer reads it."""

import io
import zipfile
from collections import Counter
from datetime import UTC, datetime

import pytest

from bulk_import.domain.records.staged import RecordType
from bulk_import.readers import slack_export
from bulk_import.readers.lines import MalformedInput
from bulk_import.readers.slack_export import SkippedFile, slack_records
from tests.support.slack_exports import (
    Export,
    channel,
    message,
    user,
    workspace_export,
    zipped,
)

USER, CHANNEL, MESSAGE = RecordType.USER, RecordType.CHANNEL, RecordType.MESSAGE


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def read(content: bytes, cursor=None, **options):
    return list(slack_records(io.BytesIO(content), "export.zip", cursor, **options))


# A small export with one of each case ---------------------------------------------------------------------

T = 1452837300
FILE = {
    "id": "F1",
    "name": "a.png",
    "size": 10,
    "url_private_download": "https://files.slack.com/F1/a.png?t=1",
    "is_external": False,
    "mimetype": "image/png",
}
FILE_ENTRY = {k: FILE[k] for k in ("url_private_download", "id", "size", "name", "is_external")}
NINE = [f"U{n}" for n in range(1, 10)]


def small_export() -> Export:
    export = Export(
        users=[
            user(
                "U1",
                "alice",
                real_name="Alice A",
                status_text="away",
                title="Engineer",
                tz_offset=3600,
                profile={"image_original": "https://img/U1.png"},
            ),
            {"id": "U2", "name": "bob", "profile": {"real_name": "Bob"}},
            user("B1", "deploybot", is_bot=True, tz_offset=0, email=""),
            user("USLACKBOT", "slackbot", real_name="Slackbot"),
        ],
        channels=[
            channel("C1", "general", "U1", ["U1", "U2", "USLACKBOT"], created=T + 18, is_general=True)
            | {"topic": {"value": "Company"}, "purpose": {"value": "All"}},
            channel("C2", "random", "USLACKBOT", None, created=str(T + 19), is_archived=True),
            channel("C3", "nocreator", None, ["U1"]),
            {k: v for k, v in channel("C4", "nocreatorkey", "U1", ["U1"]).items() if k != "creator"},
        ],
        groups=[channel("G1", "private-room", "U2", ["U1", "U2"], created=T)],
        mpims=[
            channel("G2", "mpdm-alice--bob-1", "U1", ["U1", "U2"], created=T),
            channel("G3", "mpdm-nine-1", "U1", NINE, created=T),
        ],
        dms=[{"id": "D1", "created": T + 20, "members": ["U1", "USLACKBOT"]}],
    )
    export.days["general/2016-01-15.json"] = [
        message(
            f"{T + 100}.000100",
            "U1",
            "Hi <@U2> and <@U2|bob>, see <#C2|random> <!here> <!channel> <!everyone> &lt;b&gt; &amp; "
            "<https://x.io/a?b=1|label> <https://x.io/c> :simple_smile: :memo:",
            edited={"user": "U1", "ts": f"{T + 150}.000001"},
            reactions=[
                {"name": "+1", "users": ["U2"], "count": 1},
                {"name": "heart", "users": ["USLACKBOT"], "count": 1},
                {"name": "zzz", "users": [], "count": 0},
            ],
            icons={"emoji": ":robot:"},
            attachments=[{"text": "&gt; quoted", "title": "T", "fallback": "F <@U1>", "color": "abc"}],
        ),
        message(
            f"{T + 200}.000200",
            "U2",
            "parent",
            thread_ts=f"{T + 200}.000200",
            reply_count=2,
            reply_users=["U2", "U2", "USLACKBOT"],
            latest_reply=f"{T + 300}.000300",
        ),
        message(f"{T + 300}.000300", "USLACKBOT", "reply", thread_ts=f"{T + 200}.000200"),
        message(f"{T + 301}.000000", "U1", "waves", subtype="me_message"),
        message(f"{T + 302}.000000", "U2", "<@U2> has joined the channel", subtype="channel_join"),
        message(f"{T + 303}.000000", "U1", "set the purpose", subtype="channel_purpose", purpose="New purpose"),
        message(f"{T + 304}.000000", "U1", "renamed", subtype="channel_name", name="general2", old_name="general"),
        message(f"{T + 305}.000000", "U1", "set the topic", subtype="group_topic", topic="t"),
        message(f"{T + 306}.000000", None, "built", subtype="bot_message", bot_id="B1"),
        message(f"{T + 307}.000000", "U1", "shared", subtype="file_share", file=FILE),
        message(f"{T + 308}.000000", "U1", "shared nothing", subtype="file_share"),
        message(f"{T + 309}.000000", "U1", "pinned", subtype="pinned_item", attachments=[{"text": "x"}]),
        message(f"{T + 310}.000000", "U1", "added", subtype="bot_add"),
        message(f"{T + 311}.000000", "U1", "gone", subtype="tombstone"),
        {"type": "reaction_added", "ts": f"{T + 312}.000000", "user": "U1"},
        message(f"{T + 313}.000000", "U1", "see file", files=[FILE], thread_ts=f"{T + 200}.000200"),
        message(
            f"{T + 314}.000000", "U1", "also to channel", subtype="thread_broadcast", thread_ts=f"{T + 200}.000200"
        ),
        message(T + 315, "U1", "integer ts"),
    ]
    export.days["general/2016-01-16.json"] = [
        message(f"{T + 90000}.000000", "U1", "broken parent", thread_ts=f"{T + 90000}.000000", reply_users=["U2"]),
        message(f"{T + 90001}.000000", "U1", "after it"),
        message(f"{T + 90002}.000000", "U2", "and after"),
    ]
    export.days["random/2016-01-15.json"] = b'[{"type": "message", "ts": "1.0", '
    export.days["random/2016-01-16.json"] = {"not": "an array"}
    export.days["ghost/2016-01-15.json"] = [message(f"{T}.000001", "U1", "a"), message(f"{T}.000002", "U1", "b")]
    export.days["D1/2016-01-15.json"] = [message(f"{T + 5}.000000", "USLACKBOT", "hello <@U1>")]
    export.days["mpdm-alice--bob-1/2016-01-15.json"] = [message(f"{T + 6}.000000", "U2", ">@U1 quoted #general")]
    export.extras = {
        "integration_logs.json": {"logs": []},
        "canvases.json": [],
        "__MACOSX/general/._2016-01-15.json": b"\x00\x05\x16\x07",
        "general/.DS_Store": b"\x00\x00\x00\x01Bud1",
    }
    return export


def expected_small_records() -> list[tuple[RecordType, str, dict, str | None]]:
    c1 = "slack-C1-"
    stop = "Rocket.Chat stops reading general/2016-01-16.json at entry 0: a thread parent without latest_reply"
    unmatched = "folder 'ghost' matches no channel: Rocket.Chat counts its messages but does not import them"
    base = lambda s, who="U1": {"_id": f"{c1}{s}-000000", "rid": "C1", "ts": iso(s), "u": {"_id": who}}  # noqa: E731
    return [
        (
            USER,
            "users.json[0]",
            {
                "emails": ["alice@example.com"],
                "importIds": ["U1"],
                "username": "alice",
                "name": "Alice A",
                "utcOffset": 1,
                "avatarUrl": "https://img/U1.png",
                "deleted": False,
                "statusText": "away",
                "bio": "Engineer",
                "type": "user",
            },
            None,
        ),
        (
            USER,
            "users.json[1]",
            {"emails": [], "importIds": ["U2"], "username": "bob", "name": "Bob", "type": "user"},
            None,
        ),
        (
            USER,
            "users.json[2]",
            {
                "emails": [],
                "importIds": ["B1"],
                "username": "deploybot",
                "name": "Deploybot",
                "utcOffset": 0,
                "avatarUrl": "https://avatars.example.com/B1_512.png",
                "deleted": False,
                "type": "bot",
                "roles": ["bot"],
            },
            None,
        ),
        (
            USER,
            "users.json[3]",
            {
                "emails": ["slackbot@example.com"],
                "importIds": ["USLACKBOT"],
                "username": "slackbot",
                "name": "Slackbot",
                "utcOffset": -7,
                "avatarUrl": "https://avatars.example.com/USLACKBOT_512.png",
                "deleted": False,
                "type": "user",
            },
            None,
        ),
        (
            CHANNEL,
            "channels.json[0]",
            {
                "_id": "general",
                "u": {"_id": "U1"},
                "importIds": ["C1"],
                "name": "general",
                "users": ["U1", "U2", "rocket.cat"],
                "t": "c",
                "topic": "Company",
                "description": "All",
                "ts": iso(T + 18),
                "archived": False,
            },
            None,
        ),
        (
            CHANNEL,
            "channels.json[1]",
            {
                "u": {"_id": "rocket.cat"},
                "importIds": ["C2"],
                "name": "random",
                "users": [],
                "t": "c",
                "ts": iso(T + 19),
                "archived": True,
            },
            None,
        ),
        (
            CHANNEL,
            "groups.json[0]",
            {
                "u": {"_id": "U2"},
                "importIds": ["G1"],
                "name": "private-room",
                "users": ["U1", "U2"],
                "t": "p",
                "ts": iso(T),
                "archived": False,
            },
            None,
        ),
        (
            CHANNEL,
            "mpims.json[0]",
            {
                "u": {"_id": "U1"},
                "importIds": ["G2"],
                "name": "mpdm-alice--bob-1",
                "users": ["U1", "U2"],
                "t": "d",
                "ts": iso(T),
                "archived": False,
            },
            None,
        ),
        (
            CHANNEL,
            "mpims.json[1]",
            {
                "u": {"_id": "U1"},
                "importIds": ["G3"],
                "name": "mpdm-nine-1",
                "users": NINE,
                "t": "p",
                "ts": iso(T),
                "archived": False,
            },
            None,
        ),
        (
            CHANNEL,
            "dms.json[0]",
            {"importIds": ["D1"], "users": ["U1", "rocket.cat"], "t": "d", "ts": iso(T + 20)},
            None,
        ),
        (
            MESSAGE,
            "D1/2016-01-15.json[0]",
            {
                "_id": f"slack-D1-{T + 5}-000000",
                "rid": "D1",
                "ts": iso(T + 5),
                "msg": "hello @U1",
                "u": {"_id": "rocket.cat"},
                "mentions": ["U1"],
            },
            None,
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[0]",
            {
                "_id": f"{c1}{T + 100}-000100",
                "rid": "C1",
                "ts": iso(T + 100),
                # Rocket.Chat's `<@…|…>` rule is greedy: it runs from the first `<@U2>` to the `|` of `<@U2|bob>`,
                # and its `<@…>` rule then runs on to the `>` of `<b>`.
                "msg": "Hi @U2> and @U2, see #random @here @all @all <b & [label](https://x.io/a?b=1) https://x.io/c "
                ":smile: :pencil:",
                "u": {"_id": "U1"},
                # Rocket.Chat's reducer keeps only the last reaction with users, under the key "name".
                "reactions": {"name": {"name": ":heart:", "users": ["rocket.cat"]}},
                "editedAt": iso(T + 150),
                "editedBy": "U1",
                "attachments": [{"text": "> quoted", "title": "T", "fallback": "F @U1", "color": "abc"}],
                "emoji": ":robot:",
                "mentions": ["U2", "U2", "here", "all", "all"],
                "channels": ["random"],
            },
            None,
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[1]",
            {
                "_id": f"{c1}{T + 200}-000200",
                "rid": "C1",
                "ts": iso(T + 200),
                "msg": "parent",
                "u": {"_id": "U2"},
                "replies": ["U2", "rocket.cat"],
                "tcount": 2,
                "tlm": iso(T + 300),
            },
            None,
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[2]",
            {
                "_id": f"{c1}{T + 300}-000300",
                "rid": "C1",
                "ts": iso(T + 300),
                "msg": "reply",
                "u": {"_id": "rocket.cat"},
                "tmid": f"{c1}{T + 200}-000200",
            },
            None,
        ),
        (MESSAGE, "general/2016-01-15.json[3]", base(T + 301) | {"msg": "_waves_"}, None),
        (MESSAGE, "general/2016-01-15.json[4]", base(T + 302, "U2") | {"msg": "", "t": "uj", "groupable": False}, None),
        (
            MESSAGE,
            "general/2016-01-15.json[5]",
            base(T + 303) | {"msg": "New purpose", "t": "room_changed_description", "groupable": False},
            None,
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[6]",
            base(T + 304) | {"msg": "general2", "t": "r", "groupable": False},
            None,
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[7]",
            base(T + 305) | {"msg": "t", "t": "room_changed_topic", "groupable": False},
            None,
        ),
        (MESSAGE, "general/2016-01-15.json[8]", base(T + 306) | {"u": {}, "msg": "built", "bot": True}, None),
        (MESSAGE, "general/2016-01-15.json[9]", base(T + 307) | {"files": [FILE_ENTRY]}, None),
        (
            MESSAGE,
            "general/2016-01-15.json[10]",
            base(T + 308) | {"msg": ""},
            "file_share without a file to download: Rocket.Chat imports nothing of it",
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[11]",
            base(T + 309) | {"msg": ""},
            "Rocket.Chat does not import pinned_item messages",
        ),
        (MESSAGE, "general/2016-01-15.json[12]", base(T + 310) | {"msg": ""}, "Rocket.Chat ignores bot_add messages"),
        (
            MESSAGE,
            "general/2016-01-15.json[13]",
            base(T + 311) | {"msg": ""},
            "Rocket.Chat does not import tombstone messages",
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[14]",
            base(T + 312) | {"msg": ""},
            "type 'reaction_added' is not 'message': Rocket.Chat counts it but does not import it",
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[15]",
            base(T + 313) | {"msg": "see file", "tmid": f"{c1}{T + 200}-000200", "files": [FILE_ENTRY]},
            None,
        ),
        (
            MESSAGE,
            "general/2016-01-15.json[16]",
            base(T + 314) | {"msg": "also to channel", "tmid": f"{c1}{T + 200}-000200"},
            None,
        ),
        (MESSAGE, "general/2016-01-15.json[17]", base(T + 315) | {"_id": f"{c1}{T + 315}", "msg": "integer ts"}, None),
        (MESSAGE, "general/2016-01-16.json[0]", {"rid": "C1"}, stop),
        (MESSAGE, "general/2016-01-16.json[1]", {"rid": "C1"}, stop),
        (MESSAGE, "general/2016-01-16.json[2]", {"rid": "C1"}, stop),
        (MESSAGE, "ghost/2016-01-15.json[0]", {"rid": "ghost"}, unmatched),
        (MESSAGE, "ghost/2016-01-15.json[1]", {"rid": "ghost"}, unmatched),
        (
            MESSAGE,
            "mpdm-alice--bob-1/2016-01-15.json[0]",
            {
                "_id": f"slack-G2-{T + 6}-000000",
                "rid": "G2",
                "ts": iso(T + 6),
                "msg": ">@U1 quoted #general",
                "u": {"_id": "U2"},
                # After '>' the match keeps its '@' once its first character is cut, as in Rocket.Chat.
                "mentions": ["@U1"],
                "channels": ["general"],
            },
            None,
        ),
    ]


def test_small_export_gives_rocket_chats_records_in_order():
    skipped: list[SkippedFile] = []
    records = read(small_export().zip(), skipped=skipped)
    assert [(r.type, r.source, r.data, r.problem) for r in records] == expected_small_records()
    assert [s.name for s in skipped] == ["random/2016-01-15.json", "random/2016-01-16.json"]
    assert skipped[0].reason.startswith("not JSON") and skipped[1].reason == "not a JSON array"


def expected_counts(export: Export) -> Counter:
    """Rocket.Chat's counts, from what the export holds."""
    with_creator = [
        c for c in export.channels + (export.groups or []) + (export.mpims or []) if c.get("creator") is not None
    ]
    arrays = [day for day in export.days.values() if isinstance(day, list)]
    return Counter(
        {USER: len(export.users), CHANNEL: len(with_creator) + len(export.dms or []), MESSAGE: sum(map(len, arrays))}
    )


def test_small_export_counts_are_rocket_chats():
    export = small_export()
    counts = Counter(r.type for r in read(export.zip()))
    assert counts == expected_counts(export) == Counter({USER: 4, CHANNEL: 6, MESSAGE: 25})


def test_resuming_from_every_record_gives_exactly_the_rest():
    content = small_export().zip()
    records = read(content)
    for position, record in enumerate(records):
        assert all(isinstance(value, int) for value in record.cursor.values())
        assert read(content, record.cursor) == records[position + 1 :], record.source
    assert read(content, None) == records


def test_resuming_does_not_reread_users_once_past_them(monkeypatch):
    content = small_export().zip()
    records = read(content)
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spying_open(self, name, *args, **kwargs):
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spying_open)
    first_channel = next(i for i, r in enumerate(records) if r.type is CHANNEL)
    assert read(content, records[first_channel].cursor) == records[first_channel + 1 :]
    assert "users.json" not in opened and "channels.json" in opened


def test_busy_workspace_counts_and_records():
    export = workspace_export()
    export.channels.append(channel("C9999", "orphan", None, ["U0001"]))
    export.days["orphan/2020-09-13.json"] = [message("1600000000.000001", "U0001", "hi")]  # an unmatched folder
    export.days["team1/2020-09-30.json"] = b"not json"
    export.days["team2/2020-09-30.json"] = {"messages": []}
    records = read(export.zip())
    counts = Counter(r.type for r in records)
    assert counts == expected_counts(export)
    assert counts[MESSAGE] > 3000
    problems = [r for r in records if r.problem]
    assert [(r.source, r.data) for r in problems] == [("orphan/2020-09-13.json[0]", {"rid": "orphan"})]
    messages = [r for r in records if r.type is MESSAGE and not r.problem]
    by_id = {r.data["_id"]: r.data for r in messages}
    assert len(by_id) == len(messages)  # one record per message, files never a record of their own
    # Every reply comes after its parent, in the same room.
    seen: set[str] = set()
    for data in (r.data for r in messages):
        assert data.get("tmid") is None or data["tmid"] in seen
        seen.add(data["_id"])
    # Rooms resolved by folder name, and DM folders by id.
    rooms = {r.source.split("/")[0]: r.data["rid"] for r in messages}
    assert rooms["general"] == "C0000" and rooms["secret"] == "G0001" and rooms["D0001"] == "D0001"
    assert rooms["mpdm-many-1"] == "G0003"
    channels = {r.data["importIds"][0]: r.data for r in records if r.type is CHANNEL}
    assert channels["G0002"]["t"] == "d" and channels["G0003"]["t"] == "p"
    assert channels["C0000"]["_id"] == "general" and "_id" not in channels["C0001"]
    assert channels["C0001"]["ts"] == iso(1_600_000_000 - 1) and channels["C0002"]["ts"] == iso(1_600_000_000 - 2)
    kinds = Counter(
        data.get("t") or ("bot" if data.get("bot") else "files" if data.get("files") else "msg")
        for data in by_id.values()
    )
    assert kinds["uj"] == kinds["ul"] == kinds["room_changed_topic"] == kinds["files"] > 0 and kinds["bot"] > 0


def test_public_only_export_without_dms_groups_or_mpims():
    export = Export(
        users=[user("U1", "alice")],
        channels=[channel("C1", "general", "U1", ["U1"], created=T)],
        groups=None,
        mpims=None,
        dms=None,
    )
    export.days["general/2016-01-15.json"] = [message(f"{T}.000001", "U1", "hi")]
    records = read(export.zip())
    assert [(r.type, r.source, r.problem) for r in records] == [
        (USER, "users.json[0]", None),
        (CHANNEL, "channels.json[0]", None),
        (MESSAGE, "general/2016-01-15.json[0]", None),
    ]
    assert records[2].data["rid"] == "C1"


def test_export_nested_under_a_top_folder_gives_nothing():
    assert read(small_export().zip(top="export")) == []


def test_a_root_file_that_is_not_json_is_one_failed_record():
    export = small_export()
    content = zipped(export.entries() | {"channels.json": b"[{oops", "mpims.json": [None]})
    records = read(content)
    failed = [(r.type, r.source, r.data, r.problem) for r in records if r.source in ("channels.json", "mpims.json")]
    assert failed[0][:3] == (CHANNEL, "channels.json", {}) and failed[0][3].startswith("channels.json: not JSON")
    assert failed[1] == (
        CHANNEL,
        "mpims.json",
        {},
        "mpims.json: an entry is not a JSON object; Rocket.Chat skips the file",
    )
    # general's messages now match no channel; the dms still resolve.
    assert {r.problem for r in records if r.source.startswith("general/")} == {
        "folder 'general' matches no channel: Rocket.Chat counts its messages but does not import them"
    }
    assert all(r.problem is None for r in records if r.source.startswith("D1/"))


def test_users_json_stops_at_an_entry_that_is_not_an_object():
    export = small_export()
    export.users = [export.users[0], None, export.users[1]]
    users = [r for r in read(export.zip()) if r.type is USER]
    assert [(r.source, r.problem) for r in users] == [
        ("users.json[0]", None),
        ("users.json[1]", "Rocket.Chat stops reading users.json at entry 1: not a JSON object"),
        ("users.json[2]", "Rocket.Chat stops reading users.json at entry 1: not a JSON object"),
    ]


def test_an_oversized_entry_is_refused_unread(monkeypatch):
    export = small_export()
    export.days["general/2016-01-17.json"] = [message(f"{T + 200000}.000000", "U1", "x" * 5000)]
    content = export.zip()
    monkeypatch.setattr(slack_export, "MAX_ENTRY_BYTES", 4000)
    read_sizes: list[int] = []
    real_read = zipfile.ZipExtFile.read

    def spying_read(self, n=-1):
        read_sizes.append(n)
        return real_read(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spying_read)
    records = read(content)
    refused = [r for r in records if r.source == "general/2016-01-17.json"]
    assert [(r.type, r.data, r.problem) for r in refused] == [
        (MESSAGE, {}, "general/2016-01-17.json: larger than 4,000 bytes uncompressed; not read")
    ]
    assert all(0 < n <= 4001 for n in read_sizes)
    index = records.index(refused[0])
    assert read(content, refused[0].cursor) == records[index + 1 :]


def test_max_direct_users_decides_what_an_mpim_becomes():
    records = read(small_export().zip(), max_direct_users=1)
    assert [r.data["t"] for r in records if r.source.startswith("mpims.json")] == ["p", "p"]


def test_not_a_zip_is_malformed_input():
    with pytest.raises(MalformedInput, match="not a valid zip"):
        read(b"PK\x03\x04 not really")


def test_slack_escapes_slashes_and_the_reader_unescapes_them():
    raw = small_export().zip()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert b"https:\\/\\/img\\/U1.png" in archive.read("users.json")
    assert read(raw)[0].data["avatarUrl"] == "https://img/U1.png"


def test_a_message_too_large_to_store_comes_with_that_problem():
    export = small_export()
    export.days["general/2016-01-17.json"] = [message(f"{T + 200000}.000000", "U1", "x" * 300_000)]
    (record,) = [r for r in read(export.zip()) if r.source == "general/2016-01-17.json[0]"]
    assert record.problem is not None and record.problem.startswith("too large")

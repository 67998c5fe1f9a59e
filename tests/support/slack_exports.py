"""Slack workspace exports built in memory, shaped as Slack writes them (escaped slashes,
string timestamps, one folder per channel with a JSON array per day)."""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass, field
from typing import Any

BASE_TS = 1_600_000_000


def slack_json(value: Any) -> bytes:
    """JSON as Slack writes it: slashes escaped."""
    return json.dumps(value, indent=1).replace("/", "\\/").encode()


def zipped(entries: dict[str, Any], folders: bool = True, top: str = "") -> bytes:
    """A zip of the entries (bytes as given, anything else as Slack's JSON), in the given order, with a
    directory entry before each folder's first file as Slack's zips have."""
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if top:
            archive.writestr(f"{top}/", b"")
        for name, content in entries.items():
            folder = name.rpartition("/")[0]
            if folders and folder and folder not in seen:
                seen.add(folder)
                archive.writestr(f"{top}{'/' if top else ''}{folder}/", b"")
            path = f"{top}/{name}" if top else name
            archive.writestr(path, content if isinstance(content, bytes) else slack_json(content))
    return buffer.getvalue()


def user(uid: str, name: str, **fields: Any) -> dict[str, Any]:
    profile = {
        "real_name": fields.pop("real_name", name.title()),
        "email": fields.pop("email", f"{name}@example.com"),
        "image_512": f"https://avatars.example.com/{uid}_512.png",
        "status_text": fields.pop("status_text", ""),
        "title": fields.pop("title", ""),
    }
    profile |= fields.pop("profile", {})
    return {
        "id": uid,
        "name": name,
        "deleted": False,
        "is_bot": False,
        "tz_offset": -25200,
        "profile": profile,
    } | fields


def channel(cid: str, name: str, creator: str | None, members: list[str] | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "created": BASE_TS - 86400,
        "creator": creator,
        "is_archived": False,
        "is_general": False,
        "members": members,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    } | fields


def message(ts: str, uid: str | None, text: str, **fields: Any) -> dict[str, Any]:
    return {"type": "message", "text": text, "ts": ts} | ({"user": uid} if uid else {}) | fields


def ts_of(seconds: int, micro: int = 0) -> str:
    return f"{seconds}.{micro:06d}"


@dataclass
class Export:
    """An export's parts (what the test reasons from) and its zip's entries in writing order."""

    users: list[Any] = field(default_factory=list)
    channels: list[Any] = field(default_factory=list)
    groups: list[Any] | None = field(default_factory=list)
    mpims: list[Any] | None = field(default_factory=list)
    dms: list[Any] | None = field(default_factory=list)
    #: day file path -> its messages, or raw bytes when it is not a JSON array.
    days: dict[str, Any] = field(default_factory=dict)
    #: other entries (root extras, __MACOSX, .DS_Store).
    extras: dict[str, Any] = field(default_factory=dict)

    def entries(self) -> dict[str, Any]:
        # Day files first, as a zip tool walking folders may write them: the reader must not depend on it.
        roots = {"users.json": self.users, "channels.json": self.channels}
        roots |= {
            f"{kind}.json": value for kind in ("groups", "mpims", "dms") if (value := getattr(self, kind)) is not None
        }
        return dict(self.days) | self.extras | roots

    def zip(self, top: str = "") -> bytes:
        return zipped(self.entries(), top=top)


def workspace_export(channels: int = 12, days: int = 6, per_day: int = 40, seed: int = 7) -> Export:
    """A busy workspace: users (a bot, Slack's own bot, a deactivated user, one without email), public
    channels (one general), a private group, group DMs below and above 8 members, DMs, and day files
    with threads, edits, reactions, files, joins/leaves, topic/purpose/name changes, bot messages and
    mentions of users, channels, here and everyone."""
    rng = random.Random(seed)
    people = [user(f"U{n:04d}", f"person{n}") for n in range(30)]
    people[3] = user("U0003", "bot3", is_bot=True, real_name="Deploy Bot")
    people[4] = user("U0004", "gone4", deleted=True)
    people[5] = user("U0005", "noemail5", email="")
    people.append(user("USLACKBOT", "slackbot", real_name="Slackbot", is_bot=False))
    ids = [p["id"] for p in people[:30]]
    export = Export(users=people)
    for n in range(channels):
        export.channels.append(
            channel(
                f"C{n:04d}",
                "general" if n == 0 else f"team{n}",
                ids[n % 30],
                rng.sample(ids, 6),
                is_general=n == 0,
                created=str(BASE_TS - n) if n % 2 else BASE_TS - n,
            )
        )
    export.groups = [channel("G0001", "secret", ids[1], ids[:4])]
    export.mpims = [
        channel("G0002", "mpdm-person1--person2--person6-1", ids[1], [ids[1], ids[2], ids[6]]),
        channel("G0003", "mpdm-many-1", ids[2], ids[:12]),
    ]
    export.dms = [{"id": "D0001", "created": BASE_TS, "members": [ids[1], ids[2]]}]
    rooms = [(c["name"], c["members"]) for c in export.channels + export.groups + export.mpims]
    rooms.append(("D0001", [ids[1], ids[2]]))
    for room, members in rooms:
        for day in range(days):
            start = BASE_TS + day * 86400
            export.days[f"{room}/2020-09-{13 + day:02d}.json"] = _day(rng, start, members, per_day)
    return export


def _day(rng: random.Random, start: int, members: list[str], count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    parent: str | None = None
    for n in range(count):
        ts = ts_of(start + n * 60, n)
        who = rng.choice(members)
        kind = n % 10
        if kind == 0:
            parent = ts
            replies = [ts_of(start + n * 60 + 1, 1), ts_of(start + n * 60 + 2, 2)]
            messages.append(
                message(
                    ts,
                    who,
                    f"thread about <#C0001|team1> <@{members[0]}>",
                    thread_ts=ts,
                    reply_count=2,
                    reply_users=[members[1], members[1]],
                    latest_reply=replies[-1],
                )
            )
            for r, reply_ts in enumerate(replies):
                messages.append(
                    message(reply_ts, members[1], f"reply {r} &amp; more", thread_ts=parent, parent_user_id=who)
                )
        elif kind == 1:
            messages.append(
                message(
                    ts,
                    who,
                    "see <https://example.com/a|the doc> and <https://example.com/b>",
                    edited={"user": who, "ts": ts_of(start + n * 60 + 30)},
                    reactions=[{"name": "+1", "users": [members[0]], "count": 1}, {"name": "eyes", "users": [who]}],
                )
            )
        elif kind == 2:
            messages.append(message(ts, who, "<@" + who + "> has joined the channel", subtype="channel_join"))
        elif kind == 3:
            messages.append(
                message(
                    ts,
                    who,
                    "",
                    files=[
                        {
                            "id": f"F{n}",
                            "name": f"report{n}.pdf",
                            "size": 1000 + n,
                            "url_private_download": f"https://files.slack.com/F{n}/download",
                            "is_external": False,
                            "mimetype": "application/pdf",
                        }
                    ],
                    upload=True,
                )
            )
        elif kind == 4:
            messages.append(
                message(ts, None, "deployed :simple_smile:", subtype="bot_message", bot_id="B1", username="ci")
            )
        elif kind == 5:
            messages.append(message(ts, who, "<!here> standup &lt;now&gt;"))
        elif kind == 6:
            messages.append(message(ts, who, "set the topic", subtype="channel_topic", topic=f"topic {n}"))
        elif kind == 7:
            messages.append(message(ts, "USLACKBOT", "<!channel> reminder", subtype="slackbot_response"))
        elif kind == 8:
            messages.append(message(ts, who, "left", subtype="channel_leave"))
        else:
            messages.append(message(ts, who, f"plain <@{rng.choice(members)}|name> text {n}"))
    return messages

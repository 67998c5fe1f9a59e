"""A Slack export's records in the model's shapes: Rocket.Chat's import data as readers/slack_export.py
reads it, with every Slack user id replaced by the user name users.json gives it, as Rocket.Chat's
import finds the users of those ids (Slack's own bot is rocket.cat).

- A user is kept as read: UserRecord's fields are Rocket.Chat's IImportUser's.
- A channel: `name` (a direct conversation has none: it is named by its Slack id), `creator` (the
  owner's user name; else the first member users.json knows), `private` (groups, group and direct
  messages), `members` (the user names; an id users.json does not know is left out, as Rocket.Chat
  leaves out a member it cannot find), with `importIds`, `t`, `topic`, `description`, `ts`, `archived`.
- A message: `channel` (its channel's name), `username` (its author's), `timestamp`, `text` (a mention
  `@<id>` written with the user name) and Rocket.Chat's fields of it (`importId`, `rid`, `tmid`,
  `mentions`, `files`, ...), user ids resolved the same way. A message whose author users.json does
  not know fails, as Rocket.Chat fails a message whose sender it cannot find.

A record readers/slack_export.py marks with a problem keeps it (it fails alone). Resolving needs
users.json and the channel files, which come before every message: from a cursor past them (staging
resumes in a new invocation) they are read again, without being yielded
(docs/decisions/0006-slack-export-in-the-model.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.lines import SourceRecord
from bulk_import.readers.slack_export import ROCKET_CAT, SkippedFile, slack_records

_MENTION = re.compile(r"@([0-9A-Za-z]+)")


@dataclass
class _Names:
    """What the export's users and channels say, learnt as they are read."""

    users: dict[str, str] = field(default_factory=lambda: {ROCKET_CAT: ROCKET_CAT})
    #: A channel's import id -> (its name in the model, whether it is a direct conversation).
    channels: dict[str, tuple[str, bool]] = field(default_factory=dict)

    def learn(self, record: SourceRecord) -> SourceRecord:
        """The record in the model's shape; a user or channel is remembered."""
        if record.type is RecordType.USER:
            ids, username = record.data.get("importIds") or [], record.data.get("username")
            if ids and isinstance(ids[0], str) and isinstance(username, str):
                self.users.setdefault(ids[0], username)
            return record
        if record.type is RecordType.CHANNEL:
            return self._channel(record)
        return self._message(record)

    def _user(self, user_id: Any) -> str | None:
        return self.users.get(user_id) if isinstance(user_id, str) else None

    def _known(self, user_ids: Any) -> list[str]:
        return [name for user_id in user_ids or [] if (name := self._user(user_id))]

    def _channel(self, record: SourceRecord) -> SourceRecord:
        data = record.data
        import_id = (data.get("importIds") or [None])[0]
        t = data.get("t")
        name = data.get("name") if t != "d" else import_id
        members = self._known(data.get("users"))
        creator = self._user((data.get("u") or {}).get("_id")) or next(iter(members), None)
        if isinstance(import_id, str) and isinstance(name, str):
            self.channels.setdefault(import_id, (name, t == "d"))
        problem = record.problem
        if problem is None and creator is None:
            problem = "neither the creator nor a member of the channel is a user of users.json"
        channel = {
            "name": name,
            "creator": creator,
            "private": t in ("p", "d"),
            "members": members,
            "importIds": data.get("importIds"),
            "t": t,
            "topic": data.get("topic"),
            "description": data.get("description"),
            "ts": data.get("ts"),
            "archived": data.get("archived"),
        }
        return replace(record, data=_present(channel), problem=problem)

    def _message(self, record: SourceRecord) -> SourceRecord:
        data = record.data
        room = data.get("rid")
        channel, direct = self.channels.get(room, (None, False)) if isinstance(room, str) else (None, False)
        author = (data.get("u") or {}).get("_id")
        username = self._user(author)
        problem = record.problem
        if problem is None and username is None:
            # Rocket.Chat's import fails such a message with importer-message-unknown-user.
            problem = (
                f"the author {author} is not a user of users.json"
                if author is not None
                else "the message has no author (no user)"
            )
        reactions = data.get("reactions")
        message = {
            "channel": channel,
            "username": username,
            "timestamp": data.get("ts"),
            "text": _MENTION.sub(lambda found: f"@{self._user(found[1]) or found[1]}", data.get("msg") or ""),
            "importId": data.get("_id"),
            "rid": room,
            "direct": direct or None,
            "t": data.get("t"),
            "tmid": data.get("tmid"),
            "replies": self._known(data["replies"]) if "replies" in data else None,
            "tcount": data.get("tcount"),
            "tlm": data.get("tlm"),
            "mentions": [self._user(user_id) or user_id for user_id in data["mentions"]]
            if "mentions" in data
            else None,
            "channels": data.get("channels"),
            "files": data.get("files"),
            "reactions": {
                key: reaction | {"users": self._known(reaction.get("users"))} for key, reaction in reactions.items()
            }
            if isinstance(reactions, dict)
            else None,
            "attachments": data.get("attachments"),
            "editedAt": data.get("editedAt"),
            "editedBy": self._user(data.get("editedBy")),
            "bot": data.get("bot"),
            "emoji": data.get("emoji"),
            "groupable": data.get("groupable"),
        }
        return replace(record, data=_present(message), problem=problem)


def _present(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def slack_export_records(
    file: BinaryIO, name: str, cursor: dict[str, int] | None, skipped: list[SkippedFile] | None = None
) -> Iterator[SourceRecord]:
    """Every record of the export from `cursor` on, in the model's shapes (see the module)."""
    names = _Names()
    if cursor is not None:
        for record in slack_records(file, name, None):
            if record.type is RecordType.MESSAGE or (record.cursor["member"], record.cursor["index"]) > (
                cursor["member"],
                cursor["index"],
            ):
                break
            names.learn(record)
        file.seek(0)
    for record in slack_records(file, name, cursor, skipped=skipped):
        yield names.learn(record)

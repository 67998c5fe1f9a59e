"""Slack's workspace export (a zip), read as Rocket.Chat's "slack" importer reads it.

Records carry Rocket.Chat's import-data shapes (IImportUser, IImportChannel, IImportMessage field names)
so that what is counted and what is imported come out as Rocket.Chat reports them:

- users = the length of users.json; channels = the channels, groups and mpims with a creator, and every
  dm; messages = the sum of the lengths of the day files that parse as JSON arrays. Each counted entry
  is one record: imported, or failing alone with a `problem` saying why Rocket.Chat would not import it.
- A value Rocket.Chat leaves undefined is absent from the record (as JSON leaves it out); in a list it
  is null.
- Pass 1 reads the root files users.json, channels.json, groups.json, mpims.json and dms.json, in that
  order (later records refer to users). One that cannot be read (not JSON, not an array, or an entry
  Rocket.Chat's reading throws on) is skipped as Rocket.Chat skips it, but not silently: it comes as
  one record of its type with a problem naming the file. That record is one failed entry more than
  Rocket.Chat counts; the counts of readable files are Rocket.Chat's.
- Pass 2 reads every other file entry with a '/' in its name (except __MACOSX and .DS_Store ones) as a
  day file, ordered by folder then date so that a thread's parent comes before its replies as far as
  the export allows. A day file that is not a JSON array is neither counted nor read by Rocket.Chat:
  it yields nothing here either, and is appended to the caller's `skipped` list to be logged.
- A zip with none of the five root files (an export zipped with its top folder) yields nothing: Rocket.Chat
  finds no users or channels there, so no message could be imported; the caller fails the import.

Where Rocket.Chat would throw on what real exports hold, this reader is lenient: a user without `profile`
reads as one with an empty profile, `members` null or missing is [] (also for mpims), and a number where
Slack writes a timestamp string (`ts`, `thread_ts`, `latest_reply`, `edited.ts`) is read as its decimal text.
A message whose files Rocket.Chat imports without the message itself (file_share, or another subtype it
drops, that has `files`) comes without `msg` nor `t`, carrying `files`: it stands for those files alone.

Entries are opened one at a time from the seekable file, never the whole zip. A root or day file is
parsed whole, as Rocket.Chat parses it (its count depends on the whole array parsing); an entry larger
than MAX_ENTRY_BYTES uncompressed is refused unread, as one record with a problem, so that a hostile or
broken zip cannot exhaust memory.

Every record's cursor is {"member": m, "index": i}: the i-th entry of the m-th file of the reading order
(root files present, then day files) is the next to read. Resuming re-reads the channel root files to
resolve day-file folders to channels (and whole day files, to know where Rocket.Chat would stop reading
one), never users.json once past it.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from bulk_import.domain.records.schema import record_problem
from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.lines import MalformedInput, SourceRecord

#: The largest uncompressed entry read (it is parsed whole, as Rocket.Chat parses it).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
#: Rocket.Chat's DirectMesssage_maxUsers default: an mpim with more members is a private group.
MAX_DIRECT_USERS = 8
ROOT_FILES = ("users.json", "channels.json", "groups.json", "mpims.json", "dms.json")
#: Rocket.Chat's stand-in for Slack's own bot.
SLACKBOT, ROCKET_CAT = "USLACKBOT", "rocket.cat"


@dataclass(frozen=True)
class SkippedFile:
    """A day file Rocket.Chat skips without counting it (not JSON, not an array): for the caller's log."""

    name: str
    reason: str


class _Undefined:
    """JavaScript's undefined: the field is left out of the record."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


class _Stop(Exception):
    """Where Rocket.Chat's reading of a file throws: the entries from there on are not imported."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def slack_records(
    file: BinaryIO,
    name: str,
    cursor: dict[str, int] | None,
    max_direct_users: int = MAX_DIRECT_USERS,
    skipped: list[SkippedFile] | None = None,
) -> Iterator[SourceRecord]:
    """Every record of the export from `cursor` on: users, channels, then messages (see the module).
    Day files Rocket.Chat skips uncounted are appended to `skipped`."""
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise MalformedInput(name, None, f"not a valid zip file ({exc})") from exc
    files = [info for info in archive.infolist() if not info.is_dir()]
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in files:
        by_name.setdefault(info.filename, info)
    roots = [by_name[root] for root in ROOT_FILES if root in by_name]
    if not roots:
        return
    days = sorted((info for info in files if _is_day_file(info.filename)), key=_day_order)
    start = (cursor["member"], cursor["index"]) if cursor else (0, 0)
    rooms: dict[str, str] = {}
    for member, info in enumerate(roots):
        if info.filename == "users.json" and member < start[0]:
            continue  # nothing after it needs the users
        for record in _root_records(archive, info, member, max_direct_users or 1, rooms):
            if (record.cursor["member"], record.cursor["index"]) > start:
                yield record
    for member, info in enumerate(days, start=len(roots)):
        if member >= start[0]:
            from_index = start[1] if member == start[0] else 0
            yield from _day_records(archive, info, member, from_index, rooms, skipped)


def _is_day_file(entry: str) -> bool:
    return "/" in entry and "__MACOSX" not in entry and ".DS_Store" not in entry


def _day_order(info: zipfile.ZipInfo) -> tuple[str, str, str]:
    parts = info.filename.split("/")
    return parts[0], parts[1].split(".")[0], info.filename


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | str:
    """The entry's bytes, or why they are not read (larger than MAX_ENTRY_BYTES, as declared or as read)."""
    refused = f"{info.filename}: larger than {MAX_ENTRY_BYTES:,} bytes uncompressed; not read"
    if info.file_size > MAX_ENTRY_BYTES:
        return refused
    try:
        with archive.open(info) as stream:
            content = stream.read(MAX_ENTRY_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        return f"{info.filename}: cannot be extracted ({exc})"
    return refused if len(content) > MAX_ENTRY_BYTES else content


def _parse_array(content: bytes) -> list[Any] | str:
    """The JSON array, or why it is not one. Decoded as Node decodes a Buffer (invalid UTF-8 replaced,
    a byte order mark kept, so JSON.parse rejects it as Rocket.Chat's does)."""
    try:
        value = json.loads(content.decode("utf-8", errors="replace"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        return f"not JSON ({exc})" if not isinstance(exc, RecursionError) else "not JSON (nested too deep)"
    return value if isinstance(value, list) else "not a JSON array"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _record(
    record_type: RecordType, data: dict[str, Any], source: str, cursor: dict[str, int], problem: str | None
) -> SourceRecord:
    return SourceRecord(record_type, data, source, cursor, problem or record_problem(data))


# Pass 1: users and channels ------------------------------------------------------------------------------


def _root_records(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: int, max_direct_users: int, rooms: dict[str, str]
) -> Iterator[SourceRecord]:
    """The file's records in order; the channels Rocket.Chat would add are added to `rooms` (folder name
    or id -> channel import id, the first added winning as Rocket.Chat's findOne finds it)."""
    entry = info.filename
    record_type = RecordType.USER if entry == "users.json" else RecordType.CHANNEL
    content = _read_entry(archive, info)
    entries = _parse_array(content) if isinstance(content, bytes) else content
    if (
        isinstance(entries, list)
        and record_type is RecordType.CHANNEL
        and entry != "dms.json"
        and any(not isinstance(channel, (dict, list)) for channel in entries)
    ):
        entries = "an entry is not a JSON object"  # Rocket.Chat's creator filter throws on it
    if isinstance(entries, str):
        problem = entries if entries.startswith(entry) else f"{entry}: {entries}; Rocket.Chat skips the file"
        yield _record(record_type, {}, entry, {"member": member, "index": 1}, problem)
        return
    convert = _ROOT_CONVERTERS[entry]
    stopped: str | None = None
    for index, value in enumerate(entries):
        if entry != "dms.json" and record_type is RecordType.CHANNEL and not _has_creator(value):
            continue  # Rocket.Chat drops (and does not count) channels without a creator
        source, position = f"{entry}[{index}]", {"member": member, "index": index + 1}
        if stopped is None and not isinstance(value, dict):
            stopped = f"Rocket.Chat stops reading {entry} at entry {index}: not a JSON object"
        if stopped is not None:
            yield _record(record_type, {}, source, position, stopped)
            continue
        data, converted_problem = convert(value, max_direct_users)
        if record_type is RecordType.CHANNEL:
            for key in (data.get("name"), data["importIds"][0]):
                if isinstance(key, str):
                    rooms.setdefault(key, data["importIds"][0])
        yield _record(record_type, data, source, position, converted_problem)


def _has_creator(channel: Any) -> bool:
    return isinstance(channel, dict) and channel.get("creator") is not None


def _user(user: dict[str, Any], _max_direct_users: int) -> tuple[dict[str, Any], str | None]:
    # A user without a profile is read as one with an empty profile (Rocket.Chat would stop reading there).
    profile: dict[str, Any] = user["profile"] if isinstance(user.get("profile"), dict) else {}
    email = profile.get("email", UNDEFINED)
    tz_offset = user.get("tz_offset", UNDEFINED)
    is_bot = _truthy(user.get("is_bot", UNDEFINED))
    data = {
        "emails": [email] if _truthy(email) else [],
        "importIds": [_listed(user.get("id", UNDEFINED))],
        "username": user.get("name", UNDEFINED),
        "name": profile.get("real_name", UNDEFINED),
        "utcOffset": _number(tz_offset / 3600) if _is_number(tz_offset) and tz_offset else tz_offset,
        "avatarUrl": _or(profile.get("image_original", UNDEFINED), profile.get("image_512", UNDEFINED)),
        "deleted": user.get("deleted", UNDEFINED),
        "statusText": _or(profile.get("status_text", UNDEFINED), UNDEFINED),
        "bio": _or(profile.get("title", UNDEFINED), UNDEFINED),
        "type": "bot" if is_bot else "user",
        "roles": ["bot"] if is_bot else UNDEFINED,
    }
    return _defined(data), None


def _room(channel: dict[str, Any], t: str, general: bool = False) -> tuple[dict[str, Any], str | None]:
    ts, problem = _created(channel.get("created", UNDEFINED))
    topic, purpose = channel.get("topic"), channel.get("purpose")
    data = {
        "_id": "general" if general and _truthy(channel.get("is_general", UNDEFINED)) else UNDEFINED,
        "u": {"_id": _user_id(channel["creator"])},
        "importIds": [_listed(channel.get("id", UNDEFINED))],
        "name": channel.get("name", UNDEFINED),
        "users": _user_ids(channel.get("members")),
        "t": t,
        "topic": _or(topic.get("value", UNDEFINED) if isinstance(topic, dict) else UNDEFINED, UNDEFINED),
        "description": _or(purpose.get("value", UNDEFINED) if isinstance(purpose, dict) else UNDEFINED, UNDEFINED),
        "ts": ts,
        "archived": channel.get("is_archived", UNDEFINED),
    }
    return _defined(data), problem


def _mpim(channel: dict[str, Any], max_direct_users: int) -> tuple[dict[str, Any], str | None]:
    # Members that are null or not a list count as none (Rocket.Chat's members.length would throw).
    members = channel.get("members")
    return _room(channel, "p" if isinstance(members, list) and len(members) > max_direct_users else "d")


def _dm(channel: dict[str, Any], _max_direct_users: int) -> tuple[dict[str, Any], str | None]:
    ts, problem = _created(channel.get("created", UNDEFINED))
    data = {
        "importIds": [_listed(channel.get("id", UNDEFINED))],
        "users": _user_ids(channel.get("members")),
        "t": "d",
        "ts": ts,
    }
    return _defined(data), problem


_ROOT_CONVERTERS: dict[str, Callable[[dict[str, Any], int], tuple[dict[str, Any], str | None]]] = {
    "users.json": _user,
    "channels.json": lambda channel, _: _room(channel, "c", general=True),
    "groups.json": lambda channel, _: _room(channel, "p"),
    "mpims.json": _mpim,
    "dms.json": _dm,
}


def _created(created: Any) -> tuple[Any, str | None]:
    """`created ? new Date(created * 1000) : undefined`, `created` a number or its text (old exports)."""
    if not _truthy(created):
        return UNDEFINED, None
    seconds: float | None = None
    if _is_number(created):
        seconds = float(created)
    elif isinstance(created, str):
        try:
            seconds = float(created.strip())
        except ValueError:
            seconds = None
    iso = _iso(seconds * 1000) if seconds is not None and math.isfinite(seconds) else None
    return (iso, None) if iso else (UNDEFINED, f"created {created!r} is not a time in seconds")


# Pass 2: messages ----------------------------------------------------------------------------------------


def _day_records(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    member: int,
    from_index: int,
    rooms: dict[str, str],
    skipped: list[SkippedFile] | None,
) -> Iterator[SourceRecord]:
    entry = info.filename
    content = _read_entry(archive, info)
    if isinstance(content, str):
        # Its length is unknown: one failed record stands for all its messages.
        if from_index < 1:
            yield _record(RecordType.MESSAGE, {}, entry, {"member": member, "index": 1}, content)
        return
    messages = _parse_array(content)
    if isinstance(messages, str):
        if skipped is not None and from_index == 0:
            skipped.append(SkippedFile(entry, messages))
        return
    folder = entry.split("/")[0]
    room = rooms.get(folder)
    stopped: str | None = None
    for index, message in enumerate(messages):
        source, position = f"{entry}[{index}]", {"member": member, "index": index + 1}
        if room is None:
            if index >= from_index:
                unmatched = (
                    f"folder {folder!r} matches no channel: Rocket.Chat counts its messages but does not import them"
                )
                yield _record(RecordType.MESSAGE, {"rid": folder}, source, position, unmatched)
            continue
        data: dict[str, Any] = {"rid": room}
        problem: str | None = stopped
        if stopped is None:
            try:
                data, problem = _message(message, room)
            except _Stop as stop:
                stopped = problem = f"Rocket.Chat stops reading {entry} at entry {index}: {stop.reason}"
        if index >= from_index:
            yield _record(RecordType.MESSAGE, data, source, position, problem)


_REGULAR_SUBTYPES = ("me_message", "thread_broadcast")
_BOT_SUBTYPES = ("bot_message", "slackbot_response")
_IGNORED_SUBTYPES = ("bot_add", "file_comment", "file_mention")
#: Subtype -> (t, the field that becomes msg).
_SYSTEM_SUBTYPES = {
    "channel_join": ("uj", None),
    "group_join": ("uj", None),
    "channel_leave": ("ul", None),
    "group_leave": ("ul", None),
    "channel_purpose": ("room_changed_description", "purpose"),
    "group_purpose": ("room_changed_description", "purpose"),
    "channel_topic": ("room_changed_topic", "topic"),
    "group_topic": ("room_changed_topic", "topic"),
    "channel_name": ("r", "name"),
    "group_name": ("r", "name"),
}


def _message(message: Any, room: str) -> tuple[dict[str, Any], str | None]:
    """Rocket.Chat's prepareMessageObject: the message, and why it is not imported if it is not.
    Raises _Stop where Rocket.Chat throws (the rest of the day file is then not imported).

    A message Rocket.Chat does not import but whose files it does (file_share, and any other subtype
    with `files`) comes without `msg` nor `t`: it stands for its files alone."""
    if not isinstance(message, dict):
        raise _Stop("not a JSON object")
    ts = _ts_text(message, "ts")
    data: dict[str, Any] = {
        "_id": _message_id(room, ts),
        "rid": room,
        "ts": _seconds_iso(ts),
        "msg": "",
        "u": _defined({"_id": _user_id(message.get("user", UNDEFINED))}),
    }
    problem = None if data["ts"] else f"ts {ts!r} is not a Slack timestamp"
    reactions = _reactions(message.get("reactions", UNDEFINED))
    if reactions is not None:
        data["reactions"] = reactions
    if message.get("type") != "message":
        kind = message.get("type", UNDEFINED)
        return data, f"type {kind!r} is not 'message': Rocket.Chat counts it but does not import it"
    files = _files(message.get("files", UNDEFINED))
    subtype = message.get("subtype", UNDEFINED)
    threaded = _truthy(message.get("thread_ts", UNDEFINED))
    is_bot = subtype in _BOT_SUBTYPES
    if _truthy(subtype) and subtype not in _REGULAR_SUBTYPES and not is_bot:
        if subtype in _SYSTEM_SUBTYPES:
            t, field = _SYSTEM_SUBTYPES[subtype]
            data |= {"t": t, "groupable": False}
            if field:
                data["msg"] = message.get(field, UNDEFINED)
            return _defined(data | ({"files": files} if files else {})), problem
        if subtype == "pinned_item":
            _pinned_attachment(message.get("attachments", UNDEFINED))
            why = "Rocket.Chat does not import pinned_item messages"
        elif subtype == "file_share":
            share = message.get("file")
            if isinstance(share, dict) and _truthy(share.get("url_private_download", UNDEFINED)):
                files.append(_file(share))
            why = "file_share without a file to download: Rocket.Chat imports nothing of it"
        elif subtype in _IGNORED_SUBTYPES:
            why = f"Rocket.Chat ignores {subtype} messages"
        else:
            why = f"Rocket.Chat does not import {subtype} messages"
        if not files:
            return data, why
        file_only = {key: data[key] for key in ("_id", "rid", "ts", "u")} | {"files": files}
        if threaded and (thread_ts := _ts_text(message, "thread_ts")) != ts:
            file_only["tmid"] = _message_id(room, thread_ts)
        return file_only, problem
    text = _convert(message.get("text", UNDEFINED))
    data["msg"] = f"_{text}_" if subtype == "me_message" else text
    if is_bot:
        data["bot"] = True
    if threaded:
        thread_ts = _ts_text(message, "thread_ts")
        if thread_ts == ts:
            data["replies"] = _replies(message)
            data["tcount"] = message.get("reply_count", UNDEFINED)
            if not isinstance(message.get("latest_reply"), (str, int, float)):
                raise _Stop("a thread parent without latest_reply")
            data["tlm"] = _seconds_iso(_ts_text(message, "latest_reply"))
            problem = problem or (None if data["tlm"] else "latest_reply is not a Slack timestamp")
        else:
            data["tmid"] = _message_id(room, thread_ts)
    edited = message.get("edited", UNDEFINED)
    if _truthy(edited):
        if not isinstance(edited, dict) or not isinstance(edited.get("ts"), (str, int, float)):
            raise _Stop("edited without ts")
        data["editedAt"] = _seconds_iso(_ts_text(edited, "ts"))
        problem = problem or (None if data["editedAt"] else "edited.ts is not a Slack timestamp")
        if _truthy(edited.get("user", UNDEFINED)):
            data["editedBy"] = _user_id(edited["user"])
    attachments = message.get("attachments", UNDEFINED)
    if _truthy(attachments):
        data["attachments"] = _attachments(attachments)
    icons = message.get("icons")
    if isinstance(icons, dict) and _truthy(icons.get("emoji", UNDEFINED)):
        data["emoji"] = icons["emoji"]
    mentions, channels = _mentions(data["msg"])
    if mentions:
        data["mentions"] = mentions
    if channels:
        data["channels"] = channels
    if files:
        data["files"] = files
    return _defined(data), problem


def _message_id(room: str, ts: str) -> str:
    return f"slack-{room}-{ts.replace('.', '-')}"


def _ts_text(message: dict[str, Any], field: str) -> str:
    """A Slack timestamp's text. Numbers are read as their decimal text (Slack writes strings)."""
    value = message.get(field)
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(value) if isinstance(value, int) else repr(value)
    raise _Stop(f"{field} is missing or not a Slack timestamp")


def _reactions(reactions: Any) -> dict[str, Any] | None:
    """Rocket.Chat's reduction of the reactions, quirk included: every reaction is stored under the
    literal key "name", so only the last one with users survives."""
    if not isinstance(reactions, list) or not reactions:
        if isinstance(reactions, str) and reactions:
            raise _Stop("reactions is not a list")
        return None
    reduced: dict[str, Any] = {}
    for reaction in reactions:
        if reaction is None:
            raise _Stop("a reaction is null")
        users = reaction.get("users") if isinstance(reaction, dict) else None
        if isinstance(users, list) and users:
            name = reaction.get("name", UNDEFINED) if isinstance(reaction, dict) else UNDEFINED
            reduced = {"name": {"name": f":{_text(name)}:", "users": _user_ids(users)}}
        elif isinstance(users, str) and users:
            raise _Stop("a reaction's users is not a list")
    return reduced


def _files(files: Any) -> list[dict[str, Any]]:
    if not _truthy(files):
        return []
    if not isinstance(files, list):
        raise _Stop("files is not a list")
    if any(file is None for file in files):
        raise _Stop("a file is null")
    return [_file(file) if isinstance(file, dict) else {} for file in files]


def _file(file: dict[str, Any]) -> dict[str, Any]:
    keys = ("url_private_download", "id", "size", "name", "is_external")
    return {key: file[key] for key in keys if key in file}


def _pinned_attachment(attachments: Any) -> None:
    """Rocket.Chat reads the first attachment of a pinned item before dropping the message: where it throws."""
    if not _truthy(attachments) or isinstance(attachments, (str, int, float)):
        return
    first = attachments[0] if isinstance(attachments, list) and attachments else None
    if first is None:
        raise _Stop("a pinned item without an attachment")
    if isinstance(first, dict):
        _convert(first.get("text", UNDEFINED))


def _replies(message: dict[str, Any]) -> Any:
    """The unique repliers (reply_users, else replies[].user); undefined if none."""
    reply_users, replies = message.get("reply_users", UNDEFINED), message.get("replies", UNDEFINED)
    if _truthy(reply_users):
        if not isinstance(reply_users, list):
            raise _Stop("reply_users is not a list")
        users = [_user_id(user) for user in reply_users]
    elif _truthy(replies):
        if not isinstance(replies, list) or any(reply is None for reply in replies):
            raise _Stop("replies is not a list of replies")
        users = [_user_id(reply.get("user", UNDEFINED) if isinstance(reply, dict) else UNDEFINED) for reply in replies]
    else:
        users = []  # Rocket.Chat warns and imports the parent without its repliers
    unique = list(dict.fromkeys(_listed(user) for user in users))
    return unique or UNDEFINED


def _attachments(attachments: Any) -> Any:
    if isinstance(attachments, str):
        raise _Stop("attachments is not a list")
    if not isinstance(attachments, list) or not attachments:
        return UNDEFINED
    converted = []
    for attachment in attachments:
        if attachment is None:
            raise _Stop("an attachment is null")
        fields = attachment if isinstance(attachment, dict) else {}
        converted.append(
            _defined(dict(fields))
            | {key: _convert(fields.get(key, UNDEFINED)) for key in ("text", "title", "fallback")}
        )
    return converted


# Rocket.Chat's text conversion and mention parsing ------------------------------------------------------

_REPLACEMENTS = (
    ("<!everyone>", "@all"),
    ("<!channel>", "@all"),
    ("<!here>", "@here"),
    ("&gt;", ">"),
    ("&lt;", "<"),
    ("&amp;", "&"),
    (":simple_smile:", ":smile:"),
    (":memo:", ":pencil:"),
    (":piggy:", ":pig:"),
    (":uk:", ":gb:"),
)
_LINK = re.compile(r"<(https?:[^>|]*)>")
_LABELLED_LINK = re.compile(r"<(https?:[^|]*)\|([^>]*)>")
_CHANNEL_LINK = re.compile(r"<#([^|]*)\|([^>]*)>")
_NAMED_USER = re.compile(r"<@([^|]*)\|([^>]*)>")
_USER = re.compile(r"<@([^|>]*)>")
#: JavaScript's \s (and what String.prototype.trim removes).
_JS_SPACES = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_SPACE_CLASS = "[" + re.escape(_JS_SPACES) + "]"
_NAME = "[0-9a-zA-Z]+"
_USER_MENTION = re.compile(rf"(?:^|{_SPACE_CLASS}|>)@(?:{_NAME}(?:@{_NAME})?(?::[0-9a-zA-Z_.\-]+)?)", re.M)
_CHANNEL_MENTION = re.compile(rf"(?:^|{_SPACE_CLASS}|>)#(?:{_NAME}(?:@{_NAME})?)", re.M)


def _convert(text: Any) -> str:
    """Rocket.Chat's convertSlackMessageToRocketChat, replacement for replacement."""
    if not _truthy(text):
        return ""
    if not isinstance(text, str):
        raise _Stop("a text is not a string")
    for slack, rocket in _REPLACEMENTS:
        text = text.replace(slack, rocket)
    text = _LINK.sub(r"\1", text)
    text = _LABELLED_LINK.sub(lambda found: f"[{found[2]}]({found[1]})", text)
    text = _CHANNEL_LINK.sub(lambda found: f"#{found[2]}", text)
    text = _NAMED_USER.sub(lambda found: f"@{found[1]}", text)
    return _USER.sub(lambda found: f"@{found[1]}", text)


def _mentions(msg: Any) -> tuple[list[str], list[str]]:
    """Rocket.Chat's parseMentions: MentionsParser's matches, trimmed, less their first character (so a
    mention right after '>' keeps its '@', as in Rocket.Chat), and `@here`/`@all` included."""
    if not isinstance(msg, str):
        return [], []
    users = [_user_id(found.strip(_JS_SPACES)[1:]) for found in _USER_MENTION.findall(msg)]
    channels = [found.strip(_JS_SPACES)[1:] for found in _CHANNEL_MENTION.findall(msg)]
    return users, channels


# JavaScript's values -------------------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    if value is UNDEFINED or value is None:
        return False
    if isinstance(value, (bool, str)):
        return bool(value)
    if _is_number(value):
        return value != 0 and not math.isnan(value)
    return True  # objects and arrays, even empty


def _or(first: Any, second: Any) -> Any:
    return first if _truthy(first) else second


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: float) -> int | float:
    """JavaScript has one number type: -8.0 is -8."""
    return int(value) if value.is_integer() else value


def _text(value: Any) -> str:
    """A value as a JavaScript template literal shows it."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _listed(value: Any) -> Any:
    """undefined in a list is stored as null."""
    return None if value is UNDEFINED else value


def _defined(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not UNDEFINED}


def _user_id(user: Any) -> Any:
    return ROCKET_CAT if user == SLACKBOT else user


def _user_ids(members: Any) -> list[Any]:
    """Member ids with Slack's bot replaced; null, missing or not a list gives []."""
    return [_user_id(member) for member in members] if isinstance(members, list) else []


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(milliseconds: float) -> str | None:
    """Date.prototype.toISOString of `new Date(milliseconds)`, or None if out of range."""
    try:
        moment = _EPOCH + timedelta(milliseconds=math.trunc(milliseconds))
    except OverflowError:
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


_PARSE_INT = re.compile(rf"{_SPACE_CLASS}*([+-]?[0-9]+)")


def _seconds_iso(ts: str) -> str | None:
    """`new Date(parseInt(ts.split('.')[0]) * 1000)` as an ISO time, or None if it is not a time."""
    found = _PARSE_INT.match(ts.split(".")[0])
    return _iso(int(found[1]) * 1000) if found else None

"""What Rocket.Chat's startImport selects of a prepared file: `{users: {all, list}, channels: {all,
list}}`, lists of ids as getImportFileData named them. A user or channel is selected as Rocket.Chat's
Importer.startImport decides (beforeImportFn): `all`, else an id in a non-empty list; direct messages
are selected together by one id. A message goes with its channel: one of a channel not selected is
not imported either (Rocket.Chat tries it and fails, the room missing)."""

from __future__ import annotations

from typing import Any

from bulk_import.domain.operation import ProgressStep
from bulk_import.domain.records.staged import RecordType

#: Steps in which Rocket.Chat's getImportFileData answers `waiting` (the file is being prepared);
#: here also a file loaded but not yet taken by the worker, which prepares it at once.
WAITING_STEPS = frozenset(
    {
        ProgressStep.UPLOADING,
        ProgressStep.DOWNLOADING_FILE,
        ProgressStep.FILE_LOADED,
        ProgressStep.PREPARING_STARTED,
        ProgressStep.PREPARING_USERS,
        ProgressStep.PREPARING_CHANNELS,
        ProgressStep.PREPARING_MESSAGES,
        ProgressStep.PREPARING_CONTACTS,
    }
)

#: The id that selects every direct message conversation at once.
DIRECT_MESSAGES = "__directMessages__"


def record_id(data: dict[str, Any], *names: str) -> str:
    """A user's or channel's id in a selection: its first import id, else the first of `names` it
    has (the CSV importer's users and channels are known by their names)."""
    ids = data.get("importIds") or []
    if isinstance(ids, list) and ids:
        return str(ids[0])
    return str(next((data[name] for name in names if data.get(name)), ""))


def user_id(data: dict[str, Any]) -> str:
    return record_id(data, "username")


def channel_id(data: dict[str, Any]) -> str:
    return DIRECT_MESSAGES if data.get("t") == "d" else record_id(data, "name")


def _chosen(part: Any, identity: str) -> bool:
    if not isinstance(part, dict):
        return False
    if part.get("all"):
        return True
    chosen = part.get("list") or []
    return identity in chosen


def is_selected(selection: dict[str, Any], record_type: str, data: dict[str, Any]) -> bool:
    """Whether startImport's `selection` imports this staged record."""
    if record_type == RecordType.USER:
        return _chosen(selection.get("users"), user_id(data))
    if record_type == RecordType.CHANNEL:
        return _chosen(selection.get("channels"), channel_id(data))
    channel = DIRECT_MESSAGES if data.get("direct") else str(data.get("rid") or data.get("channel") or "")
    return _chosen(selection.get("channels"), channel)

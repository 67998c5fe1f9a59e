"""What a prepared file offers to Rocket.Chat's getImportFileData: its staged users and channels, as
Rocket.Chat's buildSelection lists them. The read side of logic/imports/rocketchat_files.py, kept
apart so that the status function loads only this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bulk_import.dal.s3 import STAGED_BATCHES_PER_OBJECT, ImportFiles, StagedBatchMissing
from bulk_import.domain.importers import downloads_of
from bulk_import.domain.operation import BATCH_SIZE, ImportOperation
from bulk_import.domain.records.staged import COUNT_FIELD, RecordType, StagedRecord
from bulk_import.domain.selection import DIRECT_MESSAGES, channel_id, user_id

#: How many users and how many channels the selection lists: an answer is at most 6 MB. Selecting
#: `all` takes every one, listed or not.
SELECTION_LIMIT = 10_000


@dataclass(frozen=True)
class Selection:
    """What getImportFileData lists: the first SELECTION_LIMIT users and channels staged, and the
    count of messages."""

    users: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    message_count: int


def selection_of(files: ImportFiles, operation: ImportOperation) -> Selection:
    """The operation's staged users and channels as Rocket.Chat's buildSelection lists them (one
    GetObject per 1,000 records, at most SELECTION_LIMIT of each), with direct messages as one entry.
    Downloads (pending files and avatars) stage no import data: nothing, as Rocket.Chat lists it."""
    if downloads_of(operation.importer_key) is not None:
        return Selection([], [], 0)
    users = [_selection_user(record) for record in _staged(files, operation, RecordType.USER)]
    channels, direct = [], False
    for record in _staged(files, operation, RecordType.CHANNEL):
        if channel_id(record.data) == DIRECT_MESSAGES:
            direct = True
        else:
            channels.append(_selection_channel(record))
    if direct:
        channels.append(
            {
                "channel_id": DIRECT_MESSAGES,
                "name": "Direct_Messages",
                "is_archived": False,
                "do_import": True,
                "is_private": True,
                "is_direct": True,
            }
        )
    return Selection(users, channels, operation.count.messages)


def _staged(files: ImportFiles, operation: ImportOperation, record_type: RecordType) -> list[StagedRecord]:
    """The first SELECTION_LIMIT staged records of a type that could be read; none once the staged
    objects expired (template.yaml's lifecycle rule) or for records that were never staged in S3."""
    staged = min(getattr(operation.count, COUNT_FIELD[record_type]), SELECTION_LIMIT)
    per_object = BATCH_SIZE * STAGED_BATCHES_PER_OBJECT
    records: list[StagedRecord] = []
    try:
        for index in range((staged + per_object - 1) // per_object):
            records += files.read_staged_object(operation.id, record_type.value, index)
    except StagedBatchMissing:
        return []
    return [record for record in records if record.problem is None][:SELECTION_LIMIT]


def _selection_user(record: StagedRecord) -> dict[str, Any]:
    data = record.data
    emails = data.get("emails") or []
    return {
        "user_id": user_id(data),
        "username": data.get("username"),
        "email": emails[0] if isinstance(emails, list) and emails else emails or None,
        "is_deleted": bool(data.get("deleted")),
        "is_bot": data.get("type") == "bot",
        "do_import": True,
        "is_email_taken": False,
    }


def _selection_channel(record: StagedRecord) -> dict[str, Any]:
    data = record.data
    return {
        "channel_id": channel_id(data),
        "name": data.get("name"),
        "is_archived": bool(data.get("archived")),
        "do_import": True,
        "is_private": data.get("t") == "p" or data.get("private") in (True, "true", "1", "yes"),
        "is_direct": False,
    }

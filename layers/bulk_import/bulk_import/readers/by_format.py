"""Any import file, told by how it starts: a zip laid out as Personium's cell export is a cell
snapshot, a zip with one of Slack's root files (users.json, channels.json, ...) is Slack's workspace
export, another zip is Rocket.Chat's CSV importer's, a CSV whose first line is the header of Slack's
member list export is Rocket.Chat's slack-users importer's, anything else JSON Lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from bulk_import.readers.json_lines import json_record, json_type
from bulk_import.readers.lines import SourceRecord, lines, records_of_lines
from bulk_import.readers.personium_accounts import cell_snapshot_records
from bulk_import.readers.personium_snapshot import is_cell_snapshot
from bulk_import.readers.rocketchat_csv import zip_records
from bulk_import.readers.slack_export import ROOT_FILES, SkippedFile
from bulk_import.readers.slack_names import slack_export_records
from bulk_import.readers.slack_users import SLACK_USERS_HEADER, slack_user_records
from bulk_import.readers.zips import ZIP_MAGIC, zip_members

_BYTE_ORDER_MARK = b"\xef\xbb\xbf"


def read_records(
    open_file: Callable[[], BinaryIO],
    cursor: dict[str, int] | None = None,
    name: str = "input",
    skipped: list[SkippedFile] | None = None,
) -> Iterator[SourceRecord]:
    """Every record of the file `open_file()` opens (a zip, Slack's users CSV or JSON Lines), from
    `cursor` on. A Slack export's files that Rocket.Chat skips uncounted are appended to `skipped`."""
    with open_file() as file:
        head = file.read(len(_BYTE_ORDER_MARK) + len(SLACK_USERS_HEADER))
        file.seek(0)
        members = zip_members(file) if head[:4] in ZIP_MAGIC else None
        if members is not None and is_cell_snapshot(members):
            yield from cell_snapshot_records(file, name, cursor)
        elif members is not None and not members.isdisjoint(ROOT_FILES):
            yield from slack_export_records(file, name, cursor, skipped)
        elif head[:4] in ZIP_MAGIC:
            yield from zip_records(file, name, cursor)
        elif head.removeprefix(_BYTE_ORDER_MARK).startswith(SLACK_USERS_HEADER):
            yield from slack_user_records(file, name, cursor)
        else:
            yield from records_of_lines(lines(file, cursor), name, 0, json_record, json_type)

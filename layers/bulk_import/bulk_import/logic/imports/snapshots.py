"""Importing one of a cell's Personium snapshots (the files themselves: logic/snapshot_files.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.s3 import ImportFiles, snapshot_key
from bulk_import.domain.operation import ImportOperation
from bulk_import.logic.imports.launch import UNREAD, Executions, Latest
from bulk_import.logic.imports.start import start_file_import
from bulk_import.readers.personium_snapshot import check_cell_snapshot, is_cell_snapshot
from bulk_import.readers.personium_snapshot_refusals import SnapshotNotZip
from bulk_import.readers.zips import open_zip

#: The importer of a snapshot in this product's own formats, and of one Personium's export wrote.
SNAPSHOT_IMPORTER = "personium"
CELL_SNAPSHOT_IMPORTER = "personium-cell"


def start_snapshot_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    name: str,
    user: str,
    *,
    latest: Latest = UNREAD,
) -> ImportOperation:
    key = snapshot_key(cell, name)
    return start_file_import(store, files, executions, cell, key, name, user, snapshot_importer, latest=latest)


def snapshot_importer(open_file: Callable[[], BinaryIO]) -> str:
    """The importer of a stored snapshot, which must be a zip: one laid out as Personium's export
    lays it out is a cell snapshot, checked as Personium checks one before it accepts it
    (readers.personium_snapshot raises what it refuses); another is in this product's formats.
    Reads the zip's central directory and its manifest, not the whole file."""
    with open_file() as file:
        archive = open_zip(file)
        if archive is None:
            raise SnapshotNotZip()
        if not is_cell_snapshot(archive.namelist()):
            return SNAPSHOT_IMPORTER
        check_cell_snapshot(archive)
    return CELL_SNAPSHOT_IMPORTER

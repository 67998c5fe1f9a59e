"""Importing one of a cell's Personium snapshots (the files themselves: logic/snapshot_files.py)."""

from __future__ import annotations

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.s3 import ImportFiles, snapshot_key
from bulk_import.domain.operation import (
    ImportOperation,
)
from bulk_import.logic.imports.launch import UNREAD, Executions, Latest
from bulk_import.logic.imports.start import start_file_import


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
    return start_file_import(store, files, executions, cell, snapshot_key(cell, name), name, user, latest=latest)

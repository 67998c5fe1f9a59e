"""Personium's snapshots: storing one in a cell and importing it."""

from __future__ import annotations

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.s3 import ImportFiles, snapshot_key
from bulk_import.domain.operation import (
    ImportOperation,
)
from bulk_import.logic.imports.errors import CellImportRunning
from bulk_import.logic.imports.launch import UNREAD, Executions, Latest, read_latest
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


def snapshot_exists(files: ImportFiles, cell: str, name: str) -> bool:
    """Whether the cell's snapshot `<name>.zip` is stored (one S3 request)."""
    return files.etag(snapshot_key(cell, name)) is not None


def store_snapshot(
    store: ImportStore, files: ImportFiles, cell: str, name: str, body: bytes, *, latest: Latest = UNREAD
) -> None:
    """Personium's PUT __snapshot/<name>.zip: refused while an import of the cell runs (the import
    is pinned to the version it started with either way)."""
    latest = read_latest(store, cell, latest)
    if latest is not None and latest.is_active:
        raise CellImportRunning(cell)
    files.put(snapshot_key(cell, name), body)

"""Personium's __snapshot collection: writing, reading and deleting its files as Personium's WebDAV
does (CellSnapshotDavCmpFsImpl, DavCmpFsImpl), while the cell's lock and status let them."""

from __future__ import annotations

from bulk_import.dal.snapshot_files import SnapshotChanged, SnapshotFiles
from bulk_import.domain.operation import ImportOperation, PersoniumStatus, utc_now
from bulk_import.domain.snapshot_files import SnapshotFile, new_snapshot_file
from bulk_import.logic.imports.errors import CellImportFailed, CellImportRunning, ETagMismatch, OperationBusy

#: How many times a write tries: first as if the file were new (one conditional PutObject, all a new
#: file costs), then each time reading the file again (a listing, a HEAD, a conditional PutObject)
#: after another write came between.
WRITE_ATTEMPTS = 4


def refuse_writes_while_importing(cell: str, latest: ImportOperation | None) -> None:
    """Personium's cell lock: while an import of the cell runs, every write to it is refused (its
    WriteMethodFilter, before the resource and the caller's rights are looked at); reads pass."""
    if latest is not None and latest.is_active:
        raise CellImportRunning(cell)


def refuse_while_import_failed(cell: str, latest: ImportOperation | None) -> None:
    """After a failed import, Personium's cell answers only its __import (GET and POST) and its
    tokens until an import succeeds (CellResource, before the caller's rights are looked at)."""
    if latest is not None and latest.personium_status is PersoniumStatus.FAILED:
        raise CellImportFailed(cell)


def write_snapshot_file(
    files: SnapshotFiles, cell: str, name: str, body: bytes, content_type: str, if_match: str | None
) -> tuple[SnapshotFile, bool]:
    """Stores `body` as the file `name`: (the file, whether it was created). An update checks
    If-Match (a create does not, as Personium's doPutForCreate does not). Each write is conditional
    on the version read just before it, so of two concurrent writes neither is lost unseen: the
    later one reads again, and is refused if its If-Match named the version the other replaced."""
    current: SnapshotFile | None = None  # first as new: S3 refuses the create if the file exists
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            current = files.find(cell, name)
        now = utc_now()
        if current is None:
            written = new_snapshot_file(name, len(body), content_type, now)
        elif current.refused_by(if_match):
            raise ETagMismatch(name)
        else:
            written = current.replaced(len(body), content_type, now)
        try:
            return files.write(cell, written, body, replaces=current), current is None
        except SnapshotChanged:
            continue
    raise OperationBusy(cell)


def read_snapshot_file(
    files: SnapshotFiles, cell: str, file: SnapshotFile, first: int | None = None, last: int | None = None
) -> bytes:
    """The bytes of the version `file` describes (`first` to `last` included, if given)."""
    try:
        return files.read(cell, file, first, last)
    except SnapshotChanged as changed:  # written again since it was read: the caller's headers are stale
        raise OperationBusy(cell) from changed


def delete_snapshot_file(files: SnapshotFiles, cell: str, file: SnapshotFile, if_match: str | None) -> None:
    if file.refused_by(if_match):
        raise ETagMismatch(file.name)
    files.delete(cell, file.name)

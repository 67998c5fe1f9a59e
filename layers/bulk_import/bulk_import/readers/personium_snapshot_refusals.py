"""What Personium's import refuses a cell snapshot for before it accepts it
(readers/personium_snapshot.py): apart, so that the API's error mapping, which the status reads
load, does not load the reader (docs/decisions/0002-cold-start-budget.md)."""

from __future__ import annotations

from bulk_import.domain.errors import BulkImportError


class SnapshotRefused(BulkImportError):
    """A cell snapshot Personium's import refuses before it accepts the request."""


class SnapshotNotZip(SnapshotRefused):
    """The stored snapshot cannot be opened as a zip (Personium's zip file system refuses the file,
    stored as `content`, whatever is wrong with it)."""


class ManifestUnreadable(SnapshotRefused):
    """No manifest to read (Personium reads it before it checks the rest)."""


class ManifestNotJson(SnapshotRefused):
    """The manifest is not JSON; the argument is its text."""


class ManifestMistyped(SnapshotRefused):
    """The manifest is JSON but not an object, or its `export_version` is not a JSON integer:
    Personium's cast fails, and it answers its unknown-exception 500."""


class SnapshotVersionInvalid(SnapshotRefused):
    """The arguments: the version expected and the manifest's (`null` when it has none)."""


class SnapshotPathMissing(SnapshotRefused):
    """The argument: the first required path the zip lacks."""

"""Why an import cannot be started, fed or stopped: each dialect answers these its own way."""

from __future__ import annotations

from bulk_import.domain.errors import BulkImportError


class OperationBusy(BulkImportError):
    """Another operation of the cell is loading or importing."""


class SnapshotNotFound(BulkImportError):
    pass


class CellImportRunning(BulkImportError):
    """A snapshot of a cell cannot be written while an import of that cell runs: the import reads
    the version it started with, and Personium refuses writes to a cell being imported."""


class CellImportFailed(BulkImportError):
    """The cell's last import failed: Personium serves such a cell's import and its tokens only, until
    an import of it succeeds."""


class ETagMismatch(BulkImportError):
    """If-Match names another version of a __snapshot file than the one stored."""


class UploadNotFound(BulkImportError):
    """No file was uploaded under this upload id (or it was never completed)."""


class NotCancelable(BulkImportError):
    """Only a loading or importing operation can be canceled."""


class NotRetryable(BulkImportError):
    """Why this operation's failed records cannot be retried now."""


class InvalidCorrections(BulkImportError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class IdempotencyKeyReused(BulkImportError):
    """The Idempotency-Key was sent before with another request."""


class ImportServiceError(BulkImportError):
    """Rocket.Chat ImportService's refusals; the message is Rocket.Chat's own text."""

"""A record as an import keeps it: numbered in its operation, imported in its batch, and kept with its
error once it failed. No pydantic here (the status functions list failed records; bulk_import.domain.operation
says why): the rules a record must meet are in bulk_import.domain.records.schema."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bulk_import.domain.operation import BATCH_SIZE


@dataclass(frozen=True)
class StagedRecord:
    """A numbered record of an operation: staged (in S3, docs/data-model.md) until its batch imports
    it; `error` is set once it failed to import (failed records are kept in DynamoDB)."""

    type: str
    seq: int
    data: dict[str, Any]
    source: str
    error: str | None = None
    #: A stable code for the error (RecordError in worker.py).
    error_code: str | None = None
    #: Why the record could not even be staged as read (too large, not storable): it fails as
    #: invalid when its batch runs, and its data is left out.
    problem: str | None = None

    @property
    def batch(self) -> int:
        return self.seq // BATCH_SIZE

    def reference(self, operation_id: str) -> str:
        """What an imported entry remembers of the record that created it, to recognise a retry."""
        return f"{operation_id}#{self.type}#{self.seq}"

    @property
    def record_id(self) -> str:
        """The record's name within its operation (`user:12`), shown with its error."""
        return f"{self.type}:{self.seq}"


class RecordType(StrEnum):
    USER = "user"
    CHANNEL = "channel"
    MESSAGE = "message"


#: The operation's count field of each record type.
#: Looked up by RecordType or by its value (a str: RecordType is a StrEnum).
COUNT_FIELD: dict[str, str] = {RecordType.USER: "users", RecordType.CHANNEL: "channels", RecordType.MESSAGE: "messages"}

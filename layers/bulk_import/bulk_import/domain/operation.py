"""The import operation and everything derived from it.

One model serves every dialect: an operation stores its Rocket.Chat progress step, `valid`, times and
counts; the Rocket.Chat `state` and the Personium `status`/`progress` are derived here, once.
Nothing in this module knows about HTTP or DynamoDB. Plain dataclasses, not pydantic: a status
read builds an operation from its item on every cold start, and pydantic's import alone would cost
a fifth of a bare boto3 function's (docs/benchmarks.md); input is validated where it enters (the
API's request bodies, the records), and what the table holds was written by this code.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

#: Personium's cell names; every dialect's cell is one.
CELL_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9-_]{0,127}$"


def valid_cell_name(name: str) -> str:
    """`name`, if it is a cell name; ValueError otherwise."""
    if not re.match(CELL_NAME_PATTERN, name):
        raise ValueError(f"not a cell name: {name!r} (must match {CELL_NAME_PATTERN})")
    return name


class ProgressStep(StrEnum):
    """Rocket.Chat's ProgressStep values, in the order an import walks through them."""

    NEW = "importer_new"
    UPLOADING = "importer_uploading"
    DOWNLOADING_FILE = "importer_downloading_file"
    FILE_LOADED = "importer_file_loaded"
    PREPARING_STARTED = "importer_preparing_started"
    PREPARING_USERS = "importer_preparing_users"
    PREPARING_CHANNELS = "importer_preparing_channels"
    PREPARING_MESSAGES = "importer_preparing_messages"
    PREPARING_CONTACTS = "importer_preparing_contacts"
    USER_SELECTION = "importer_user_selection"
    IMPORTING_STARTED = "importer_importing_started"
    IMPORTING_USERS = "importer_importing_users"
    IMPORTING_CHANNELS = "importer_importing_channels"
    IMPORTING_MESSAGES = "importer_importing_messages"
    IMPORTING_CONTACTS = "importer_importing_contacts"
    IMPORTING_FILES = "importer_importing_files"
    FINISHING = "importer_finishing"
    DONE = "importer_done"
    IMPORT_FAILED = "importer_import_failed"
    IMPORT_CANCELLED = "importer_import_cancelled"


class ImportState(StrEnum):
    """Rocket.Chat's operation state (service.ts getStateOfOperation)."""

    NONE = "none"
    NEW = "new"
    LOADING = "loading"
    READY = "ready"
    IMPORTING = "importing"
    ERROR = "error"
    CANCELED = "canceled"
    DONE = "done"


_STATE_OF_STEP: dict[ProgressStep, ImportState] = {
    ProgressStep.NEW: ImportState.NEW,
    ProgressStep.UPLOADING: ImportState.LOADING,
    ProgressStep.DOWNLOADING_FILE: ImportState.LOADING,
    ProgressStep.FILE_LOADED: ImportState.LOADING,
    ProgressStep.PREPARING_STARTED: ImportState.LOADING,
    ProgressStep.PREPARING_USERS: ImportState.LOADING,
    ProgressStep.PREPARING_CHANNELS: ImportState.LOADING,
    ProgressStep.PREPARING_MESSAGES: ImportState.LOADING,
    ProgressStep.PREPARING_CONTACTS: ImportState.LOADING,
    ProgressStep.USER_SELECTION: ImportState.READY,
    ProgressStep.IMPORTING_STARTED: ImportState.IMPORTING,
    ProgressStep.IMPORTING_USERS: ImportState.IMPORTING,
    ProgressStep.IMPORTING_CHANNELS: ImportState.IMPORTING,
    ProgressStep.IMPORTING_MESSAGES: ImportState.IMPORTING,
    ProgressStep.IMPORTING_CONTACTS: ImportState.IMPORTING,
    ProgressStep.IMPORTING_FILES: ImportState.IMPORTING,
    ProgressStep.FINISHING: ImportState.IMPORTING,
    ProgressStep.DONE: ImportState.DONE,
    ProgressStep.IMPORT_FAILED: ImportState.ERROR,
    ProgressStep.IMPORT_CANCELLED: ImportState.CANCELED,
}

#: States in which an operation is working and no other may start on its cell.
ACTIVE_STATES = frozenset({ImportState.LOADING, ImportState.IMPORTING})
ACTIVE_STEPS = frozenset(step for step, state in _STATE_OF_STEP.items() if state in ACTIVE_STATES)
#: Steps an operation ends in; it is finished there (or when cleared).
FINISHED_STEPS = frozenset({ProgressStep.DONE, ProgressStep.IMPORT_FAILED, ProgressStep.IMPORT_CANCELLED})


def steps_in_state(state: ImportState) -> frozenset[ProgressStep]:
    """The steps a valid operation is in when it is in `state` (an invalid one is in ERROR too)."""
    return frozenset(step for step, of_step in _STATE_OF_STEP.items() if of_step == state)


#: Records are imported, counted and reported in batches of this many (Rocket.Chat's batch size).
BATCH_SIZE = 50


class PersoniumStatus(StrEnum):
    READY = "ready"
    IN_PROGRESS = "importation in progress"
    FAILED = "import failed"


@dataclass(frozen=True)
class Counts:
    """Rocket.Chat's operation.count: per-type totals and the processed records."""

    total: int = 0
    users: int = 0
    messages: int = 0
    channels: int = 0
    completed: int = 0
    error: int = 0

    def __post_init__(self) -> None:
        if min(self.total, self.users, self.messages, self.channels, self.completed, self.error) < 0:
            raise ValueError(f"negative count: {self}")

    @property
    def processed(self) -> int:
        return self.completed + self.error

    @property
    def percent(self) -> int:
        """Whole percent of records processed, rounded down as Personium does; 0 when empty."""
        return self.processed * 100 // self.total if self.total else 0


@dataclass(frozen=True)
class ProgressMark:
    """How many records were processed at a moment; two marks give the recent rate."""

    at: datetime
    processed: int


#: The worker moves the progress mark once it is this old, so the rate covers the last 30-60 s.
RATE_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class Failure:
    """Why an operation failed: a Personium-style code (PRxxx-XX-nnnn) and an English message."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if not re.match(r"^PR\d{3}-\w{2}-\d{4}$", self.code):
            raise ValueError(f"not a Personium code: {self.code!r}")


def download_failure(reason: str) -> Failure:
    """Why downloading the input from a public URL failed (refused, unreachable, a status other
    than 2xx, too large, too slow): the reason in Rocket.Chat's words."""
    return Failure(code="PR502-BI-0010", message=f"The input file could not be downloaded: {reason}")


@dataclass(frozen=True, kw_only=True)
class ImportOperation:
    """An import operation of a cell; the one stored fact from which every view is derived."""

    id: str
    cell: str
    type: str
    importer_key: str
    importation_name: str | None = None
    step: ProgressStep = ProgressStep.NEW
    valid: bool = True
    started_at: datetime
    updated_at: datetime
    user: str
    count: Counts = field(default_factory=Counts)
    failure: Failure | None = None
    #: The input file (an S3 key) for file imports; None when records arrive through the API.
    source_key: str | None = None
    #: The input file's ETag when the import started: the worker reads that version or fails.
    source_etag: str | None = None
    #: The public URL the worker downloads the input file from (Rocket.Chat's
    #: downloadPublicImportFile), into `source_key`, while the operation is in DOWNLOADING_FILE.
    source_url: str | None = None
    #: Where staging resumes: the input position (or retry position) after the last staged chunk
    #: and the per-type counts up to it, saved in the same write as those counts.
    stage_cursor: dict[str, Any] | None = None
    #: The worker's Step Functions execution, once started.
    execution_arn: str | None = None
    #: The operation whose failed records this one retries.
    parent_id: str | None = None
    #: Last time the worker showed progress (staged a chunk, counted a batch, changed phase).
    heartbeat_at: datetime | None = None
    #: When it reached done, failed or canceled, or was cleared.
    finished_at: datetime | None = None
    #: When the operation and its records expire (DynamoDB TTL); set when it finishes.
    expires_at: datetime | None = None
    #: Ended early (cancel, clear, failure) and its counts not settled yet: batches that were in
    #: flight may still count what they imported; once no attempt can run, the rest are counted as
    #: errors (docs/decisions/0001-counts-settle-after-a-stop.md).
    reconcile_pending: bool = False
    #: A retry whose parent's counts are not settled yet waits until then before it stages.
    waiting_until: datetime | None = None
    #: The newest and the previous progress marks (the recent window of the rate).
    mark: ProgressMark | None = None
    previous_mark: ProgressMark | None = None
    #: The task token of the worker's execution while it waits in `importer_user_selection` for
    #: Rocket.Chat's startImport (domain/importers.py, `waits_for_selection`); startImport sends it back.
    selection_token: str | None = None

    @property
    def state(self) -> ImportState:
        # Rocket.Chat checks `valid` first: an invalidated operation is an error unless it finished.
        if not self.valid and self.step != ProgressStep.DONE:
            return ImportState.ERROR
        return _STATE_OF_STEP[self.step]

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def last_heartbeat(self) -> datetime:
        return self.heartbeat_at or self.updated_at

    def is_stalled(self, now: datetime, stalled_after: timedelta) -> bool:
        """Active, but the worker has shown no progress for `stalled_after`."""
        return self.is_active and now - self.last_heartbeat > stalled_after

    def needs_new_mark(self, now: datetime) -> bool:
        return self.mark is None or now - self.mark.at >= RATE_WINDOW

    @property
    def rate(self) -> float | None:
        """Records processed per second, from the oldest progress mark kept to the last heartbeat;
        None before the worker counted anything. 0.0 once nothing moves."""
        since = self.previous_mark or self.mark
        if since is None:
            return None
        seconds = (self.last_heartbeat - since.at).total_seconds()
        if seconds <= 0:
            return None
        return max(self.count.processed - since.processed, 0) / seconds

    @property
    def eta_seconds(self) -> int | None:
        """Seconds left at the current rate; None when unknown, 0 when nothing is left."""
        if not self.is_active:
            return None
        remaining = self.count.total - self.count.processed
        rate = self.rate
        if remaining <= 0:
            return 0
        return round(remaining / rate) if rate else None

    @property
    def personium_status(self) -> PersoniumStatus:
        if self.is_active:
            return PersoniumStatus.IN_PROGRESS
        if self.step == ProgressStep.IMPORT_FAILED:
            return PersoniumStatus.FAILED
        # Nothing runs: success, cancel, clear and not-yet-started all accept a new import.
        return PersoniumStatus.READY


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_millis(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, the form both dialects print (2017-02-13T09:00:00.000Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_operation_id() -> str:
    """24 hex digits, time-ordered like a Mongo ObjectId (48-bit milliseconds + 48 random bits).

    Sorting ids sorts operations by creation time, which the history listing relies on.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(6).hex()}"


#: How long a start's Idempotency-Key answers with the import that start claimed.
START_KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class StartKey:
    """A start's Idempotency-Key (hashed: a client's key may be long) and the hash of the request
    it came with."""

    key_hash: str
    request_hash: str


@dataclass(frozen=True)
class KeyedStart:
    """What the start with an Idempotency-Key recorded, in the transaction that claimed its import."""

    operation_id: str
    request_hash: str
    expires_at: datetime

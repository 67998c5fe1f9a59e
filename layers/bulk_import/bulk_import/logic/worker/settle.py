"""Settling the counts of an operation that ended early, once no attempt of its batches can still run
(docs/decisions/0001-counts-settle-after-a-stop.md)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import cast

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.s3 import (
    ImportFiles,
    StagedBatchMissing,
)
from bulk_import.domain.operation import (
    BATCH_SIZE,
    ImportOperation,
)
from bulk_import.domain.records.staged import COUNT_FIELD, RecordType
from bulk_import.logic.worker import steps
from bulk_import.logic.worker.batch import committed_outcome
from bulk_import.logic.worker.steps import MARKERS_PER_READ


def settles_at(operation: ImportOperation, reconcile_after: timedelta) -> datetime:
    """When the counts of an operation that ended early can settle: no attempt of its batches can
    still run then."""
    return cast(datetime, operation.finished_at) + reconcile_after


def reconcile_stopped(
    store: ImportStore, files: ImportFiles, operation: ImportOperation, concurrency: int
) -> ImportOperation:
    """Settles the counts of `operation`, which ended early: counts what batches in flight at the
    end imported and no attempt counted, then counts every record never imported as an error.

    A stop (StopExecution, or a Map Run that fails) aborts child executions: an attempt that died
    after importing, whose retry would have counted late (import_batch), never runs again. Once no
    attempt can still run (`reconcile_after`), those batches are found exactly, from the markers:
    a child imports its group's batches one after another, each once the one before it is counted,
    so only a group's first uncounted batch can have been in flight. And a Map starts its children
    in item order, at most `concurrency` at once, so a started group none of whose batches was
    counted was running at the stop: past the last group with a counted batch, at most
    `concurrency` groups were started. Each such first uncounted batch whose records' entries exist
    is counted late by the same marker transaction. Idempotent: the sweeper and a retry waiting for
    this operation may both run it."""
    for record_type in RecordType:
        for batch in _first_uncounted_of_groups(
            store,
            operation.id,
            record_type,
            getattr(operation.count, COUNT_FIELD[record_type]),
            concurrency,
            steps.batches_per_child(operation),
        ):
            ended, at_latest, outcome = store.read_batch_context(operation.cell, operation.id, record_type.value, batch)
            if ended is None or outcome is not None:
                continue
            try:
                records = files.read_staged_batch(operation.id, record_type.value, batch)
            except StagedBatchMissing:
                continue  # never staged (it ended while staging), so never imported
            committed = committed_outcome(store, ended, records)
            if committed.completed:
                store.count_batch(ended, record_type.value, batch, committed, late=True, at_latest=at_latest)
    store.settle_counts(operation.cell, operation.id)
    return operation


def _first_uncounted_of_groups(
    store: ImportStore, operation_id: str, record_type: RecordType, records: int, concurrency: int, per_child: int
) -> Iterator[int]:
    """The first uncounted batch of each group that may have started: groups are read in order
    (their markers, several groups per BatchGetItem) until `concurrency` + 1 groups in a row had
    no batch counted: no later group started."""
    batches = math.ceil(records / BATCH_SIZE)
    groups = [range(first, min(first + per_child, batches)) for first in range(0, batches, per_child)]
    per_read = max(1, MARKERS_PER_READ // per_child)
    idle = 0
    for start in range(0, len(groups), per_read):
        chunk = groups[start : start + per_read]
        counted = store.batch_outcomes(operation_id, record_type.value, [b for group in chunk for b in group])
        for group in chunk:
            first_uncounted = next((batch for batch in group if batch not in counted), None)
            if first_uncounted is not None:
                yield first_uncounted
            idle = 0 if first_uncounted != group.start else idle + 1
            if idle > concurrency:
                return

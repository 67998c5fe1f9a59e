"""The scheduled sweeper: starts imports whose start died half-way, lets go those whose startImport
died before it sent the execution its selection, fails stalled ones, settles the counts of those
that ended early."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import OperationConflict
from bulk_import.dal.s3 import (
    ImportFiles,
)
from bulk_import.domain.operation import (
    ACTIVE_STEPS,
    Failure,
    ImportOperation,
    ProgressStep,
    iso_millis,
)
from bulk_import.logic.imports.rocketchat_files import let_go_of_selection
from bulk_import.logic.worker.settle import reconcile_stopped, settles_at

STALLED = "PR500-BI-0007"


#: An active operation without an execution this long after its last write was started by an API
#: call that died between writing it and StartExecution: the sweeper starts its execution.
UNSTARTED_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Sweep:
    """What one run of the sweeper found and did."""

    stalled: list[ImportOperation]  # active, no progress for `stalled_after`
    failed: list[ImportOperation]  # of those, failed: no progress for `fail_after`
    started: list[ImportOperation]  # active but never started: their executions started now
    reconciled: list[ImportOperation] = field(default_factory=list)  # ended early, counts now settled
    #: Selected by a startImport that died before it let the execution go: let go now.
    resumed: list[ImportOperation] = field(default_factory=list)


def sweep(
    store: ImportStore,
    files: ImportFiles,
    executions: Any,
    now: datetime,
    stalled_after: timedelta,
    fail_after: timedelta,
    concurrency: int,
    reconcile_after: timedelta,
) -> Sweep:
    """The scheduled sweeper. Reads the active operations once; starts the execution of those whose
    start died half-way (the execution is named after the operation, so it can never run twice);
    fails those stalled for `fail_after` (their unprocessed records counted as errors, their
    executions stopped), each only if it is unchanged since it was read; and settles the counts of
    those that ended early `reconcile_after` ago or more (reconcile_stopped; `concurrency` is the
    Maps' MaxConcurrency). An import that startImport moved on but whose waiting execution it did not
    let go (the token still on the operation, UNSTARTED_AFTER later) is let go."""
    candidates = store.stalled_operations(now - min(stalled_after, fail_after, UNSTARTED_AFTER, reconcile_after))
    minutes = int(fail_after.total_seconds() // 60)
    failed, started, resumed = [], [], []
    reconciled = [
        reconcile_stopped(store, files, operation, concurrency)
        for operation in candidates
        if operation.reconcile_pending and now > settles_at(operation, reconcile_after)
    ]
    for operation in candidates:
        if not operation.is_active:
            continue
        if operation.execution_arn is None and operation.is_stalled(now, UNSTARTED_AFTER):
            execution_arn = executions.start(operation.cell, operation.id)
            try:
                started.append(
                    store.update_operation(
                        operation,
                        from_steps=ACTIVE_STEPS,
                        execution_arn=execution_arn,
                        heartbeat=True,
                        unchanged_since=operation.updated_at,
                    )
                )
            except OperationConflict:
                pass  # the worker wrote meanwhile: it runs
            continue
        if (
            operation.selection_token is not None
            and operation.step == ProgressStep.IMPORTING_USERS
            and operation.is_stalled(now, UNSTARTED_AFTER)
        ):
            let_go_of_selection(store, executions, operation, operation.selection_token)
            resumed.append(operation)
            continue
        if not operation.is_stalled(now, fail_after):
            continue
        failure = Failure(
            code=STALLED,
            message=f"The import stalled: no progress since "
            f"{iso_millis(operation.last_heartbeat)} (limit {minutes} minutes).",
        )
        try:
            failed.append(
                store.update_operation(
                    operation,
                    from_steps=ACTIVE_STEPS,
                    step=ProgressStep.IMPORT_FAILED,
                    failure=failure,
                    ended_early=True,
                    unchanged_since=operation.updated_at,
                )
            )
        except OperationConflict:
            continue  # it moved on or ended since it was read
        if operation.execution_arn is not None:
            executions.stop(operation.execution_arn, "stalled")
    stalled = [
        operation
        for operation in candidates
        if operation.is_stalled(now, stalled_after) and operation not in started and operation not in resumed
    ]
    return Sweep(stalled=stalled, failed=failed, started=started, reconciled=reconciled, resumed=resumed)

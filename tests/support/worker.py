"""The worker's steps on moto, driven the way the state machine drives them
(statemachine/import.asl.json), in one cell; and the Step Functions port, recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import directory_key
from bulk_import.dal.public_urls import PublicDownloads
from bulk_import.dal.s3 import ImportFiles, snapshot_key
from bulk_import.domain.operation import utc_now
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.start import start_records_import
from bulk_import.logic.worker.batch import import_batch
from bulk_import.logic.worker.phase import advance_phase
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.sweep import Sweep, sweep
from tests.support.stack import BUCKET_NAME

CELL = "acme"
#: The template's ReconcileAfterSeconds (180): what the sweeper and a retry wait on AWS.
RECONCILE_AFTER = timedelta(minutes=3)


@dataclass
class RecordedExecutions:
    """The Step Functions port, recording what the domain asks of it (the state machine itself
    is exercised in tests/local)."""

    started: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    def start(self, cell: str, operation_id: str) -> str:
        self.started.append((cell, operation_id))
        return self.execution_arn(operation_id)

    def execution_arn(self, operation_id: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:import:{operation_id}"

    def resume(self, task_token: str) -> None:
        self.resumed.append(task_token)

    def stop(self, execution_arn: str, cause: str) -> None:
        self.stopped.append(execution_arn)


def batch_descriptors(group: dict) -> list[dict]:
    """What a child's ImportGroup Map gives the batch function for each batch of a manifest item."""
    return [
        {"cell": group["cell"], "operationId": group["operationId"], "type": group["type"], "batch": batch}
        for batch in group["batches"]
    ]


def run_worker(
    store: ImportStore, files: ImportFiles, operation_id: str, on_batch=None, downloads: PublicDownloads | None = None
) -> dict:
    """Drives the steps like statemachine/import.asl.json: stage until staged, then every batch of
    every type (`downloads`: what batches of downloads may fetch), the phase changes between them,
    and the finish."""
    task = stage_all(store, files, operation_id, out_of_time=lambda: True, concurrency=10)  # a chunk per call
    for record_type, next_phase in [
        (RecordType.USER, "channels"),
        (RecordType.CHANNEL, "messages"),
        (RecordType.MESSAGE, "done"),
    ]:
        key = task["manifest"][record_type.value]
        descriptors = json.loads(files.client.get_object(Bucket=BUCKET_NAME, Key=key)["Body"].read())
        for group in descriptors:  # a child per group, its batches one after another
            for descriptor in batch_descriptors(group):
                if on_batch:
                    on_batch(descriptor)
                import_batch(
                    store, files, CELL, operation_id, RecordType(group["type"]), descriptor["batch"], downloads
                )
        advance_phase(store, files, CELL, operation_id, next_phase)
    return task


def sweep_after(
    store: ImportStore, files: ImportFiles, executions, minutes: int, *, stalled_after: int = 10, concurrency: int = 10
) -> Sweep:
    """The sweeper `minutes` from now, with the template's limits (stalled after 10 minutes unless
    told, failed after 60, counts settled 3 minutes after a stop) and concurrency."""
    return sweep(
        store,
        files,
        executions,
        utc_now() + timedelta(minutes=minutes),
        timedelta(minutes=stalled_after),
        timedelta(minutes=60),
        concurrency=concurrency,
        reconcile_after=RECONCILE_AFTER,
    )


def stage_all(
    store: ImportStore,
    files: ImportFiles,
    operation_id: str,
    out_of_time=lambda: False,
    concurrency: int = 1,
    reconcile_after: timedelta = timedelta(0),
) -> dict:
    """Calls the stage task until it answers staged, as the state machine's Stage / Staged? loop. A
    retry of a parent that ended early settles the parent at once: no attempt of a batch runs in
    these tests once it returned, so the WaitForParent state has nothing to wait for."""
    task = {"staged": False}
    while not task["staged"]:
        task = stage_input(
            store,
            files,
            CELL,
            operation_id,
            out_of_time=out_of_time,
            concurrency=concurrency,
            reconcile_after=reconcile_after,
            execution_arn=RecordedExecutions().execution_arn(operation_id),
        )
    return task


def failed_records(store: ImportStore, operation_id: str) -> list:
    return store.failed_records(operation_id, 1000).items


def entry_exists(store: ImportStore, kind: str, identity: str) -> bool:
    key = {name: {"S": value} for name, value in directory_key(CELL, kind, identity).items()}
    return "Item" in store.client.get_item(TableName=store.table_name, Key=key)


def upload(files: ImportFiles, name: str, content: bytes) -> None:
    files.put(snapshot_key(CELL, name), content)


def import_done(store, files, executions, records: list[dict]):
    operation = start_records_import(store, files, executions, CELL, records, "people", "op")
    run_worker(store, files, operation.id)
    return store.latest_operation(CELL)

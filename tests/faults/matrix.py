"""The fault matrix: every AWS write each worker step makes, crashed before the call, crashed after
it landed, and answered with contention or throttling three times in a row, each in a run of its
own through the real template, state machine and handlers on the local stack; after each run, the
promise is checked through the public API:

- the import ends (done, or canceled / error where the flow ends it so);
- total == the records of the input, completed == the valid ones, error == the invalid ones;
- the failed records are exactly the invalid ones, none "already exists" that was valid;
- every imported user, channel and message exists once, and only those (the directory is counted);
- a retry of the failed records brings back exactly those.

Faults are injected at the SDK boundary (local/bulk_import_local/sdk_boundary.py), not in the project's
functions, so the matrix keeps working through refactors; Step Functions' own Retry (scaled down
in time) does the recovering. The fault points are found, not listed: a clean run of each flow
records the writes its functions make, and each (function, operation) becomes a point at its
first and last occurrence.

    .venv/bin/python -m tests.faults.matrix           # the whole matrix (make faults)
    .venv/bin/python -m tests.faults.matrix --sample  # what CI runs (tests/local/test_fault_matrix.py)
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import requests

from bulk_import.dal.dynamodb.directory_items import DirectoryEntry
from bulk_import.dal.dynamodb.operation_items import latest_operation_key
from bulk_import.dal.dynamodb.table import marshal
from bulk_import.dal.public_urls import Allowlist, PublicDownloads
from bulk_import.dal.s3 import default_files, snapshot_key
from bulk_import.dal.stepfunctions import WorkerExecutions, default_executions
from bulk_import.domain.credentials import ApiPermission
from bulk_import.domain.importers import IMPORTERS
from bulk_import.domain.operation import ImportOperation, ProgressStep, utc_now
from bulk_import.domain.records.schema import RecordInvalid, parse_record
from bulk_import.domain.records.staged import RecordType
from bulk_import.domain.selection import DIRECT_MESSAGES, is_selected
from bulk_import.logic.admin import create_api_credential
from bulk_import.logic.imports.errors import ImportServiceError
from bulk_import.logic.imports.retry import retry
from bulk_import.logic.imports.rocketchat import rocketchat_add_users, rocketchat_new, rocketchat_run
from bulk_import.logic.imports.rocketchat_files import (
    download_pending,
    download_public_import_file,
    start_selected_import,
    upload_import_file,
)
from bulk_import.logic.imports.snapshots import start_snapshot_import
from bulk_import.logic.imports.start import start_records_import
from bulk_import.logic.imports.stop import cancel, stop
from bulk_import.logic.worker.settle import reconcile_stopped
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.sweep import STALLED, sweep
from bulk_import.readers.by_format import read_records
from bulk_import.settings import get_import_settings
from bulk_import_local.local_stack import LocalStack, clear_cached_clients
from bulk_import_local.sdk_boundary import Fault, SdkBoundary, current_function
from tests.support.file_server import file_server
from tests.support.slack_exports import workspace_export

WORKER = ("ImportStageFunction", "ImportBatchFunction", "ImportPhaseFunction")
#: How long a flow may take before it counts as an import that never ends.
DEADLINE_SECONDS = 180
#: Step Functions' Retry waits (1 s, 2 s, 4 s ...) scaled down: the same attempts, not the same waits.
RETRY_SCALE = "0.02"
_CONTENTION = {"TransactWriteItems": "TransactionCanceledException"}
#: A run in which the fault's call never came: a cancel or clear lands at a moment of its own, and
#: a write the clean runs made that often may come fewer times. Not a broken promise, not a survival.
NOT_REACHED = "the fault was never injected (not reached)"
_THROTTLING = {"dynamodb": "ThrottlingException", "s3": "SlowDown", "stepfunctions": "ThrottlingException"}


def _every_other() -> Callable[[dict[str, Any]], bool]:
    """Picks every other statement it is shown, from the first."""
    shown = itertools.count()
    return lambda statement: next(shown) % 2 == 0


# -- the inputs --------------------------------------------------------------------------------


def _user(number: int, **changes: Any) -> dict[str, Any]:
    return {"type": "user", "username": f"u{number}", "emails": [f"u{number}@example.com"]} | changes


def mixed_records() -> tuple[list[dict[str, Any]], set[int], dict[int, dict]]:
    """120 users, 3 channels and 4 messages: 5 records fail (two invalid users, one of two users
    with the same username, an invalid channel name and a message without text). Returns the
    records, the line numbers (1-based) of those that fail for sure, and corrections for two of
    them. Of the duplicates (lines 4 and 100) either may fail: batches run concurrently."""
    users = [_user(n) for n in range(120)]
    users[7] = _user(7, emails=[])
    users[60] = _user(60, emails=["not-an-email"])
    users[99] = _user(99, username="u3")  # a duplicate of u3: the later one fails, already exists
    channels = [
        {"type": "channel", "name": name, "creator": "u0", "members": ["u0", "u1"]}
        for name in ("general", "random", "no spaces!")
    ]
    messages = [
        {
            "type": "message",
            "channel": "general",
            "username": "u0",
            "timestamp": 1700000000000 + n,
            "text": f"hello {n}",
        }
        for n in range(4)
    ]
    messages[2] = {key: value for key, value in messages[2].items() if key != "text"}
    records = users + channels + messages
    corrections = {8: _user(7), 123: {"type": "channel", "name": "no-spaces", "creator": "u0"}}
    return records, {8, 61, 123, 126}, corrections


def zip_of(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def jsonl_zip(records: list[dict[str, Any]]) -> bytes:
    return zip_of({"records.jsonl": b"".join(json.dumps(r).encode() + b"\n" for r in records)})


# -- what a flow leaves, read through the public API --------------------------------------------


@dataclass
class Outcome:
    """What the public API says of an import, and what is in the cell's directory."""

    state: str
    counts: dict[str, int]
    failed: list[dict[str, Any]]
    failure: dict[str, Any] | None
    directory: Counter


class PublicApi:
    """The /v1 API of the local stack, with a credential of one cell."""

    def __init__(self, stack: LocalStack, cell: str) -> None:
        self.base = f"{stack.api_url}/v1/cells/{cell}/imports"
        secret = create_api_credential(stack.store, cell, list(ApiPermission), name="faults").token
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str = "", **params: Any) -> dict[str, Any]:
        response = requests.get(self.base + path, headers=self.headers, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def outcome(self, operation_id: str, stack: LocalStack, cell: str) -> Outcome:
        view = self.get(f"/{operation_id}")
        failed, cursor = [], None
        while True:
            page = self.get(f"/{operation_id}/errors", limit=100, **({"cursor": cursor} if cursor else {}))
            failed += page["items"]
            if (cursor := page.get("nextCursor")) is None:
                break
        return Outcome(view["state"], view["counts"], failed, view.get("failure"), directory(stack, cell))


def directory(stack: LocalStack, cell: str) -> Counter:
    """How many entries of each kind the cell has (users, channels, messages)."""
    return Counter(kind for kind, _ in stack.directory_keys(cell))


def wait_ended(stack: LocalStack, cell: str, operation_id: str) -> None:
    """Until the operation's execution has ended and no handler runs: an import that does not end
    in time breaks the promise."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    client = boto3.client("stepfunctions")
    while time.monotonic() < deadline:
        operation = stack.store.operation(cell, operation_id)
        arn = operation and operation.execution_arn
        if arn and client.describe_execution(executionArn=arn)["status"] != "RUNNING" and stack.host.running() == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"the import {operation_id} did not end in {DEADLINE_SECONDS} s")


def wait_prepared(stack: LocalStack, cell: str) -> ImportOperation:
    """The cell's file import once prepared (waiting for its selection)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (operation := stack.store.latest_operation(cell)).step != ProgressStep.USER_SELECTION:
        if not operation.is_active or time.monotonic() > deadline:
            raise AssertionError(f"the file was not prepared: {operation.step.value}")
        time.sleep(0.05)
    return operation


def wait_processed(stack: LocalStack, cell: str, at_least: int) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        latest = stack.store.latest_operation(cell)
        if latest is not None and (latest.count.processed >= at_least or not latest.is_active):
            return
        time.sleep(0.05)
    raise AssertionError(f"{cell}: fewer than {at_least} records processed in {DEADLINE_SECONDS} s")


@contextmanager
def acting_as(function: str) -> Iterator[None]:
    """Calls made here are that function's (the API handlers' domain calls, driven directly)."""
    token = current_function.set(function)
    try:
        yield
    finally:
        current_function.reset(token)


def as_client(function: str, call: Callable[[], Any]) -> Any:
    """A client's call of an API function: when the function dies, or answers 503 (StoreUnavailable:
    botocore gave up on a throttled request), the client calls again. Three faults in a row at one
    point take a fourth call."""
    for _ in range(4):
        try:
            with acting_as(function):
                return call()
        except BaseException as exc:
            if type(exc).__name__ not in ("SimulatedCrash", "ClientError", "ThrottlingException", "StoreUnavailable"):
                raise
    raise AssertionError(f"{function} failed four times")


# -- the flows -----------------------------------------------------------------------------------


def _expect(problems: list[str], label: str, actual: Any, expected: Any) -> None:
    if actual != expected:
        problems.append(f"{label}: {actual!r}, expected {expected!r}")


def _check_counts(problems: list[str], outcome: Outcome, completed: int, error: int, total: int) -> None:
    counts = outcome.counts
    _expect(
        problems,
        "completed, error, total",
        (counts["completed"], counts["error"], counts["total"]),
        (completed, error, total),
    )


def flow_import(stack: LocalStack, cell: str) -> list[str]:
    """A snapshot of users, channels and messages, imported; then its failed records retried, two of
    them corrected. Every worker step runs: stage, each batch type, each phase, finish, retry."""
    records, failing, corrections = mixed_records()
    files, store = default_files(), stack.store
    files.put(snapshot_key(cell, "snap"), jsonl_zip(records))
    operation = start_snapshot_import(store, files, default_executions(), cell, "snap", "faults")
    wait_ended(stack, cell, operation.id)
    api, problems = PublicApi(stack, cell), []
    parent = api.outcome(operation.id, stack, cell)
    _expect(problems, "state", parent.state, "done")
    _check_counts(problems, parent, len(records) - len(failing) - 1, len(failing) + 1, len(records))
    lines = {int(r["source"].rpartition(":")[2]) for r in parent.failed}
    if lines not in (failing | {4}, failing | {100}):
        problems.append(f"failed lines: {sorted(lines)}, expected {sorted(failing)} and one of 4, 100")
    codes = Counter(record["code"] for record in parent.failed)
    _expect(problems, "failure codes", codes, Counter({"invalid-record": 4, "already-exists": 1}))
    _expect(problems, "directory", parent.directory, Counter(user=117, channel=2, message=3))

    by_line = {int(r["source"].rpartition(":")[2]): r["record"] for r in parent.failed}
    fixes = {by_line[line]: {k: v for k, v in fix.items() if k != "type"} for line, fix in corrections.items()}
    child = retry(store, files, default_executions(), store.operation(cell, operation.id), fixes, "faults")
    wait_ended(stack, cell, child.id)
    again = api.outcome(child.id, stack, cell)
    _expect(problems, "retry state", again.state, "done")
    _check_counts(problems, again, 2, 3, 5)
    _expect(problems, "directory after the retry", again.directory, Counter(user=118, channel=3, message=3))
    return problems


def _stopped_flow(
    stack: LocalStack,
    cell: str,
    start: Callable[[], Any],
    end: Callable[[str], Any],
    expected_state: str,
    total: int,
    invalid: int,
) -> list[str]:
    """Starts an import, ends it early once a batch is counted, and checks what it leaves; then
    retries its failed records and checks that together they import every valid record once."""
    store = stack.store
    operation = start()
    wait_processed(stack, cell, 50)
    end(operation.id)
    wait_ended(stack, cell, operation.id)
    # What the sweeper does once no attempt can still run: count what batches aborted by the stop
    # imported (worker.reconcile_stopped).
    as_client(
        "ImportSweeperFunction",
        lambda: reconcile_stopped(store, default_files(), store.operation(cell, operation.id), concurrency=4),
    )
    api, problems = PublicApi(stack, cell), []
    parent = api.outcome(operation.id, stack, cell)
    _expect(problems, "state", parent.state, expected_state)
    counts = parent.counts
    _expect(
        problems, "completed + error, total", (counts["completed"] + counts["error"], counts["total"]), (total, total)
    )
    _expect(problems, "imported users vs completed", parent.directory["user"], counts["completed"])
    child = retry(store, default_files(), default_executions(), store.operation(cell, operation.id), {}, "faults")
    wait_ended(stack, cell, child.id)
    again = api.outcome(child.id, stack, cell)
    _expect(problems, "retry state", again.state, "done")
    _check_counts(problems, again, counts["error"] - invalid, invalid, counts["error"])
    _expect(problems, "users after the retry", again.directory["user"], total - invalid)
    return problems


def flow_cancel(stack: LocalStack, cell: str) -> list[str]:
    """300 users (3 invalid), canceled once the first batch is counted (/v1 cancel), then retried."""
    records = [_user(n, **({"emails": []} if n % 100 == 42 else {})) for n in range(300)]
    store, files = stack.store, default_files()

    def start():
        return start_records_import(store, files, default_executions(), cell, records, None, "faults")

    def end(operation_id: str):
        def cancel_as_the_function():  # the operation and the cell's latest in one read, as api_operation
            read = store.read_operation(cell, operation_id, "no credential")
            return cancel(store, default_executions(), read.operation, latest=read.latest)

        as_client("NativeWriteFunction", cancel_as_the_function)

    return _stopped_flow(stack, cell, start, end, "canceled", 300, 3)


def clear_as_the_function(stack: LocalStack, cell: str) -> None:
    """Rocket.Chat's import.clear, the cell's latest read with the user, as the function does."""
    as_client(
        "RocketChatImportFunction",
        lambda: stop(
            stack.store,
            default_executions(),
            cell,
            clear=True,
            latest=stack.store.read_rocketchat_status(cell, "faults").latest,
        ),
    )


def flow_clear(stack: LocalStack, cell: str) -> list[str]:
    """Rocket.Chat: import.new, addUsers (250, 2 invalid), import.run, then import.clear mid-run."""
    store = stack.store
    users = [
        {key: value for key, value in _user(n).items() if key != "type"} | {"importIds": [f"i{n}"]} for n in range(250)
    ]
    for n in (10, 110):
        users[n]["emails"] = ["no"]

    def start():
        rocketchat_new(store, default_executions(), cell, "faults")
        rocketchat_add_users(store, cell, users)
        return rocketchat_run(store, default_executions(), cell)

    def end(operation_id: str):
        clear_as_the_function(stack, cell)

    return _stopped_flow(stack, cell, start, end, "error", 250, 2)


def flow_fail(stack: LocalStack, cell: str) -> list[str]:
    """A zip whose channels.csv, after 5,050 users, has a wrong header: staged up to its last saved
    point (5,000), then failed (a file that cannot be read at all; a bad line fails alone)."""
    files, store = default_files(), stack.store
    users_csv = "username,email,name\n" + "".join(f"u{n},u{n}@example.com,U\n" for n in range(5050))
    files.put(snapshot_key(cell, "bad"), zip_of({"users.csv": users_csv, "channels.csv": "name\n"}))
    operation = start_snapshot_import(store, files, default_executions(), cell, "bad", "faults")
    wait_ended(stack, cell, operation.id)
    settle_as_the_sweeper(stack)
    outcome, problems = PublicApi(stack, cell).outcome(operation.id, stack, cell), []
    _expect(problems, "state", outcome.state, "error")
    _expect(problems, "failure code", (outcome.failure or {}).get("code"), "PR400-BI-0006")
    _check_counts(problems, outcome, 0, 5000, 5000)
    _expect(problems, "directory", outcome.directory, Counter())
    return problems


def flow_sweep(stack: LocalStack, cell: str) -> list[str]:
    """An import whose worker died after staging (its execution is gone), failed by the sweeper."""
    store = stack.store
    dead = WorkerExecutions(os.environ["STATE_MACHINE_ARN"], boto3.client("stepfunctions"))
    parked = type(
        "Parked",
        (),
        {
            "start": lambda self, c, o: dead.execution_arn(o),
            "execution_arn": lambda self, o: dead.execution_arn(o),
            "stop": dead.stop,
        },
    )()
    operation = start_records_import(store, default_files(), parked, cell, [_user(n) for n in range(10)], None, "x")
    stage_input(
        store,
        default_files(),
        cell,
        operation.id,
        out_of_time=lambda: False,
        concurrency=1,
        reconcile_after=timedelta(minutes=3),
        execution_arn=dead.execution_arn(operation.id),
    )  # its worker staged, then died
    long_ago = (utc_now() - timedelta(hours=2)).isoformat()
    store.client.update_item(
        TableName=store.table_name,
        Key=marshal(latest_operation_key(cell)),
        UpdateExpression="SET heartbeatAt = :t, updatedAt = :t",
        ExpressionAttributeValues=marshal({":t": long_ago}),
    )
    limit, settle = timedelta(minutes=60), timedelta(minutes=3)

    def sweep_once(later: timedelta = timedelta(0)):
        return sweep(
            store, default_files(), dead, utc_now() + later, limit, limit, concurrency=4, reconcile_after=settle
        )

    as_client("ImportSweeperFunction", sweep_once)
    as_client("ImportSweeperFunction", sweep_once)  # the next run
    as_client("ImportSweeperFunction", lambda: sweep_once(settle * 2))  # once its counts can settle
    outcome, problems = PublicApi(stack, cell).outcome(operation.id, stack, cell), []
    _expect(problems, "state", outcome.state, "error")
    _expect(problems, "failure code", (outcome.failure or {}).get("code"), STALLED)
    _check_counts(problems, outcome, 0, 10, 10)
    return problems


# -- a client acting while a stopped import's counts settle ----------------------------------------

#: When, after the stop, the client acts: at once (the execution may still run, a batch's entries
#: landed without its count), once the execution ended, once the parent's counts settled.
MOMENTS = ("stopped", "ended", "settled")
#: What the client does then: retry the failed records (/v1), clear the cell (Rocket.Chat), or
#: import the same records again.
ACTIONS = ("retry", "clear", "new-import")
#: The sweeper's view of time once the parent's counts may settle (far past ReconcileAfterSeconds).
_LATER = timedelta(hours=1)
#: Step Functions' retry waits at full length here: the cancel lands while the batch's retry waits.
_REAL_RETRY_WAITS = "1"


class CountWatch(threading.Thread):
    """Polls imports' /v1 views from the stop until told to stop, as a client would: a count that
    goes down, or completed + error past total, is a problem."""

    def __init__(self, api: PublicApi) -> None:
        super().__init__(daemon=True)
        self.api, self.ids, self.stopping = api, [], threading.Event()
        self.problems: list[str] = []
        self.reads = 0

    def watch(self, operation_id: str) -> None:
        self.ids.append(operation_id)

    def run(self) -> None:
        seen: dict[str, tuple[int, int]] = {}
        while not self.stopping.is_set():
            for operation_id in list(self.ids):
                counts = self.api.get(f"/{operation_id}")["counts"]
                self.reads += 1
                now = (counts["completed"], counts["error"])
                before = seen.get(operation_id, (0, 0))
                if now[0] < before[0] or now[1] < before[1]:
                    self.problems.append(f"{operation_id}: counts went down, {before} -> {now}")
                if sum(now) > counts["total"]:
                    self.problems.append(f"{operation_id}: completed + error {sum(now)} > total {counts['total']}")
                seen[operation_id] = now
            time.sleep(0.02)

    def finish(self) -> list[str]:
        self.stopping.set()
        self.join()
        return self.problems


def imported_by(stack: LocalStack, cell: str) -> Counter:
    """How many users of the cell's directory each operation created (their importedFrom)."""
    users = [key for key in stack.directory_keys(cell) if key[0] == RecordType.USER]
    entries = stack.store.directory_entries(cell, users).values()
    return Counter(entry.reference.partition("#")[0] for entry in entries)


def settle_as_the_sweeper(stack: LocalStack) -> None:
    """The sweeper, late enough that every stopped import's counts may settle (and none is stalled)."""
    as_client(
        "ImportSweeperFunction",
        lambda: sweep(
            stack.store,
            default_files(),
            default_executions(),
            utc_now() + _LATER,
            _LATER * 2,
            _LATER * 2,
            4,
            _LATER / 2,
        ),
    )


def flow_window(stack: LocalStack, cell: str, moment: str, action: str) -> list[str]:
    """600 users (30 invalid) as JSON Lines. Batch 1's INSERTs land, then its Lambda dies before
    the batch is counted, on every attempt; the import is canceled while Step Functions waits to
    retry that task. Then, at `moment`, the client does `action`. Every count a client polls only
    grows, and at the end: the parent's completed is exactly the users it created, completed +
    error == total, and with the second import the 570 valid users are each counted as imported
    once, none counted as an error that was imported by the parent (no "already exists" in a
    retry)."""
    store, files = stack.store, default_files()
    records = [_user(n, **({"emails": []} if n % 20 == 7 else {})) for n in range(600)]
    files.put(snapshot_key(cell, "window"), jsonl_zip(records))
    fired = len(stack.boundary.fired)
    dies = stack.boundary.inject(
        Fault("dynamodb", "BatchExecuteStatement", "crash-after", function="ImportBatchFunction", occurrence=3, times=8)
    )
    saved_scale = os.environ.get("BULK_IMPORT_RETRY_SCALE")
    os.environ["BULK_IMPORT_RETRY_SCALE"] = _REAL_RETRY_WAITS
    api, problems = PublicApi(stack, cell), []
    watch = CountWatch(api)
    try:
        operation = start_snapshot_import(store, files, default_executions(), cell, "window", "faults")
        deadline = time.monotonic() + DEADLINE_SECONDS
        while all(fault is not dies for fault in stack.boundary.fired[fired:]):
            if time.monotonic() > deadline:
                raise AssertionError(f"batch 1 did not die in {DEADLINE_SECONDS} s")
            time.sleep(0.005)

        def cancel_as_the_function():  # the operation and the cell's latest in one read, as api_operation
            read = store.read_operation(cell, operation.id, "no credential")
            return cancel(store, default_executions(), read.operation, latest=read.latest)

        as_client("NativeWriteFunction", cancel_as_the_function)
    finally:
        stack.boundary.clear_faults()
        os.environ["BULK_IMPORT_RETRY_SCALE"] = saved_scale or RETRY_SCALE
    watch.watch(operation.id)
    watch.start()
    try:
        second = _act_while_settling(stack, cell, operation.id, moment, action, watch)
    finally:
        problems += watch.finish()

    parent, by = api.outcome(operation.id, stack, cell), imported_by(stack, cell)
    _expect(problems, "parent state", parent.state, "error" if action == "clear" else "canceled")
    _expect(problems, "parent settled", api.get(f"/{operation.id}").get("settling"), None)
    _check_counts(problems, parent, by[operation.id], 600 - by[operation.id], 600)
    if second is None:
        return problems
    again = api.outcome(second.id, stack, cell)
    _expect(problems, "second state", again.state, "done")
    _expect(problems, "users imported by the second", again.counts["completed"], by[second.id])
    _expect(problems, "users in the directory", sum(by.values()), 570)
    codes = Counter(record["code"] for record in again.failed)
    if action == "retry":
        _check_counts(problems, again, 570 - by[operation.id], 600 - 570, parent.counts["error"])
        _expect(problems, "retry's failure codes", set(codes), {"invalid-record"})
    else:
        _check_counts(problems, again, 570 - by[operation.id], 30 + by[operation.id], 600)
        _expect(problems, "already-exists in the new import", codes["already-exists"], by[operation.id])
    return problems


def _act_while_settling(stack: LocalStack, cell: str, operation_id: str, moment: str, action: str, watch: CountWatch):
    """The client's action at `moment` after the stop of `operation_id`; then everything ends and the
    stopped import's counts settle (the sweeper). Returns the import the action started, if any."""
    store, files = stack.store, default_files()

    if moment in ("ended", "settled"):
        wait_ended(stack, cell, operation_id)
    if moment == "settled":
        settle_as_the_sweeper(stack)
    second = None
    if action == "retry":

        def retry_as_the_function():  # the operation and the cell's latest in one read, as api_operation
            read = store.read_operation(cell, operation_id, "no credential")
            return retry(store, files, default_executions(), read.operation, {}, "faults", latest=read.latest)

        second = as_client("NativeWriteFunction", retry_as_the_function)
    elif action == "clear":
        clear_as_the_function(stack, cell)
    else:
        second = start_snapshot_import(store, files, default_executions(), cell, "window", "faults")
    if second is not None:
        watch.watch(second.id)
        wait_ended(stack, cell, second.id)
    wait_ended(stack, cell, operation_id)
    settle_as_the_sweeper(stack)
    return second


def file_expectations(
    content: bytes, selection: dict[str, Any], emails_required: bool = False
) -> tuple[Counter, Counter]:
    """What an import of the file with `selection` must end with: the records by outcome
    (imported, invalid-record, not-selected) and the imported entries by kind, from the reader and
    the model's rules (tests/unit/test_slack_names.py and test_slack_readers.py check those)."""
    outcomes, imported = Counter(), Counter()
    for record in read_records(lambda: io.BytesIO(content)):
        try:
            if record.problem is not None:
                raise RecordInvalid(record.problem)
            parse_record(record.type, record.data, emails_required=emails_required)
        except RecordInvalid:
            outcomes["invalid-record"] += 1
            continue
        if is_selected(selection, record.type, record.data):
            outcomes["imported"] += 1
            imported[record.type.value] += 1
        else:
            outcomes["not-selected"] += 1
    return outcomes, imported


def flow_slack(stack: LocalStack, cell: str) -> list[str]:
    """A Slack export through Rocket.Chat's administration page's calls: uploaded, prepared, waiting
    in AwaitSelection, started with a partial selection (one channel and the direct messages), imported;
    then its failed records retried (the records not selected are imported then, the invalid ones
    fail again)."""
    content = workspace_export(channels=2, days=1, per_day=40).zip()
    selection = {"users": {"all": True}, "channels": {"list": ["C0000", DIRECT_MESSAGES]}}
    outcomes, imported = file_expectations(content, selection)
    store, files, problems = stack.store, default_files(), []
    as_client(  # as the function calls it: the cell's latest read with the user
        "RocketChatImportFunction",
        lambda: upload_import_file(
            store,
            files,
            default_executions(),
            cell,
            "faults",
            IMPORTERS["slack"],
            "export.zip",
            content,
            latest=store.read_rocketchat_status(cell, "faults").latest,
        ),
    )
    operation = wait_prepared(stack, cell)

    as_client("RocketChatImportFunction", lambda: _start_once(store, files, cell, selection))
    wait_ended(stack, cell, operation.id)
    api = PublicApi(stack, cell)
    parent = api.outcome(operation.id, stack, cell)
    _expect(problems, "state", parent.state, "done")
    invalid, not_selected = outcomes["invalid-record"], outcomes["not-selected"]
    _check_counts(problems, parent, outcomes["imported"], invalid + not_selected, outcomes.total())
    _expect(
        problems,
        "failure codes",
        Counter(r["code"] for r in parent.failed),
        outcomes - Counter(imported=outcomes["imported"]),
    )
    _expect(problems, "directory", parent.directory, imported)

    child = retry(store, files, default_executions(), store.operation(cell, operation.id), {}, "faults")
    wait_ended(stack, cell, child.id)
    again = api.outcome(child.id, stack, cell)
    _expect(problems, "retry state", again.state, "done")
    _check_counts(problems, again, not_selected, invalid, invalid + not_selected)
    every = file_expectations(content, {"users": {"all": True}, "channels": {"all": True}})[1]
    _expect(problems, "directory after the retry", again.directory, every)
    return problems


def flow_download(stack: LocalStack, cell: str) -> list[str]:
    """A CSV zip through downloadPublicImportFile from a server on loopback (allowlisted while the
    flow runs): requested by the route, downloaded and prepared by the worker, every user and channel
    selected, imported."""
    members = {
        "users.csv": "username,email,name\n"
        + "".join(f"dl{n},dl{n}@example.com,D {n}\n" for n in range(40))
        + "broken,,No Email\n",  # fails: the CSV importer needs an email
        "channels.csv": "name,creator,private,members\nfetched,dl0,false,dl0;dl1\n",
        "fetched/messages.csv": "username,timestamp,text\n"
        + "".join(f"dl{n % 3},{1700000000000 + n},m{n}\n" for n in range(30)),
    }
    content = zip_of(members)
    selection = {"users": {"all": True}, "channels": {"all": True}}
    outcomes, imported = file_expectations(content, selection, emails_required=True)
    store, files, problems = stack.store, default_files(), []
    with _allowlisted(stack, "127.0.0.1"), file_server() as server:
        server.files["export.zip"] = content
        downloads = PublicDownloads(Allowlist.parse("127.0.0.1"), 1 << 20, seconds_left=lambda: 10.0)
        as_client(
            "RocketChatImportFunction",
            lambda: download_public_import_file(
                store,
                default_executions(),
                downloads,
                cell,
                "faults",
                IMPORTERS["csv"],
                f"{server.url}/files/export.zip",
                latest=store.read_rocketchat_status(cell, "faults").latest,
            ),
        )
        operation = wait_prepared(stack, cell)
    as_client("RocketChatImportFunction", lambda: _start_once(store, files, cell, selection))
    wait_ended(stack, cell, operation.id)
    outcome = PublicApi(stack, cell).outcome(operation.id, stack, cell)
    _expect(problems, "state", outcome.state, "done")
    _check_counts(problems, outcome, outcomes["imported"], outcomes["invalid-record"], outcomes.total())
    _expect(problems, "directory", outcome.directory, imported)
    return problems


#: flow_pending's messages with a file: those served, and those whose URL answers 404.
PENDING_SERVED, PENDING_GONE = 55, 5


def flow_pending(stack: LocalStack, cell: str) -> list[str]:
    """downloadPendingFiles of 60 imported messages' files from a server on loopback (allowlisted
    while the flow runs), 5 of which answer 404. A client's call that died is called again, which
    clears the operation it made (as Rocket.Chat's newOperation does): whatever the faults, each
    file is downloaded and recorded once, the latest operation's counts add up, and only the 404s
    are left to download."""
    store, problems = stack.store, []
    paths = [f"files/f{n}.bin" for n in range(PENDING_SERVED)] + [f"files/gone{n}.bin" for n in range(PENDING_GONE)]
    with _allowlisted(stack, "127.0.0.1"), file_server() as server:
        server.files |= {f"f{n}.bin": f"file {n}".encode() for n in range(PENDING_SERVED)}
        entries = [
            DirectoryEntry(
                "message", f"general#{n}", {"files": [{"url_private_download": f"{server.url}/{path}"}]}, f"seed#{n}", 1
            )
            for n, path in enumerate(paths)
        ]
        store.insert_directory_entries(cell, entries)  # as an import left them
        as_client(
            "RocketChatImportFunction",
            lambda: download_pending(
                store,
                default_executions(),
                cell,
                "faults",
                IMPORTERS["pending-files"],
                latest=store.read_rocketchat_status(cell, "faults").latest,
            ),
        )
        operation = store.latest_operation(cell)
        wait_ended(stack, cell, operation.id)
        outcome = PublicApi(stack, cell).outcome(operation.id, stack, cell)
    _expect(problems, "state", outcome.state, "done")
    counts = outcome.counts
    _expect(problems, "error", counts["error"], PENDING_GONE)
    _expect(problems, "completed + error", counts["completed"] + counts["error"], counts["total"])
    recorded = store.pending_entries(cell, "message", [entry.identity for entry in entries])
    _expect(problems, "left to download", sum(bool(entry.pending) for entry in recorded.values()), PENDING_GONE)
    _expect(problems, "recorded", sum(len(entry.done) for entry in recorded.values()), PENDING_SERVED)
    listed = boto3.client("s3").list_objects_v2(Bucket=default_files().bucket, Prefix=f"files/{cell}/")
    _expect(problems, "stored objects", listed.get("KeyCount", 0), PENDING_SERVED)
    return problems


def _start_once(store, files, cell: str, selection: dict[str, Any]) -> None:
    """startImport as a client calls it until it succeeds: a refusal after a call the client saw
    fail means that call had started it."""
    try:
        latest = store.read_rocketchat_status(cell, "faults").latest
        start_selected_import(store, files, default_executions(), latest, selection)
    except ImportServiceError:
        if store.read_rocketchat_status(cell, "faults").latest.step == ProgressStep.USER_SELECTION:
            raise


@contextmanager
def _allowlisted(stack: LocalStack, setting: str) -> Iterator[None]:
    """The functions' SSRF_Allowlist while the block runs (their settings read afresh)."""
    saved = os.environ.get("SSRF_ALLOWLIST")
    os.environ["SSRF_ALLOWLIST"] = setting
    get_import_settings.cache_clear()
    stack.host.discard_environments()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["SSRF_ALLOWLIST"]
        else:
            os.environ["SSRF_ALLOWLIST"] = saved
        get_import_settings.cache_clear()
        stack.host.discard_environments()


FLOWS: dict[str, tuple[Callable[[LocalStack, str], list[str]], tuple[str, ...]]] = {
    "import": (flow_import, WORKER),
    "cancel": (flow_cancel, (*WORKER, "NativeWriteFunction", "ImportSweeperFunction")),
    "clear": (flow_clear, (*WORKER, "RocketChatImportFunction", "ImportSweeperFunction")),
    "fail": (flow_fail, WORKER),
    "sweep": (flow_sweep, ("ImportSweeperFunction",)),
    "slack": (flow_slack, (*WORKER, "RocketChatImportFunction")),
    "download": (flow_download, (*WORKER, "RocketChatImportFunction")),
    "pending": (flow_pending, (*WORKER, "RocketChatImportFunction")),
}


@dataclass(frozen=True)
class TimingPoint:
    """A client's action at a moment between a stop and the settling of the stopped import's counts
    (flow_window): a point of the matrix of its own, with no fault injected besides the flow's."""

    moment: str
    action: str
    flow: str = "window"

    def fault(self) -> None:
        return None

    def run(self, stack: LocalStack, cell: str) -> list[str]:
        return flow_window(stack, cell, self.moment, self.action)

    def __str__(self) -> str:
        return f"window: {self.action} when {self.moment}"


TIMINGS = [TimingPoint(moment, action) for moment in MOMENTS for action in ACTIONS]


# -- the matrix ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPoint:
    flow: str
    function: str
    service: str
    operation: str
    occurrence: int
    mode: str

    def fault(self) -> Fault:
        if self.mode == "contention" and self.operation == "BatchExecuteStatement":
            # DynamoDB answers each statement: every other one throttled, the rest land
            return Fault(
                self.service,
                self.operation,
                "error",
                code="ThrottlingError",
                function=self.function,
                occurrence=self.occurrence,
                times=3,
                statements=_every_other(),
            )
        if self.mode == "contention":
            code = _CONTENTION.get(self.operation) or _THROTTLING[self.service]
            return Fault(
                self.service,
                self.operation,
                "error",
                code=code,
                function=self.function,
                occurrence=self.occurrence,
                times=3,
            )
        return Fault(self.service, self.operation, self.mode, function=self.function, occurrence=self.occurrence)

    def __str__(self) -> str:
        return f"{self.flow}: {self.function} {self.service}.{self.operation} #{self.occurrence} {self.mode}"


_CELL_NUMBERS = itertools.count()


@dataclass
class Matrix:
    stack: LocalStack
    boundary: SdkBoundary
    #: Shared by every Matrix of the process: matrices on one stack (the tests') never reuse a cell.
    cells: Iterator[int] = field(default_factory=lambda: _CELL_NUMBERS)

    def run(self, flow: str, fault: Fault | None = None, timing: TimingPoint | None = None) -> list[str]:
        self.boundary.clear_faults()
        fired = len(self.boundary.fired)
        if fault is not None:
            self.boundary.inject(fault)
        cell = f"faults-{flow}-{next(self.cells)}"
        try:
            problems = timing.run(self.stack, cell) if timing else FLOWS[flow][0](self.stack, cell)
        except AssertionError as exc:
            problems = [str(exc)]
        finally:
            self.boundary.clear_faults()
        if fault is not None and len(self.boundary.fired) == fired:
            problems.append(NOT_REACHED)
        return problems

    def points(self, flow: str) -> list[FaultPoint]:
        """The flow's fault points: each write its functions make in two clean runs, at its first
        occurrence, and at its last where both runs made it equally often (a cancel lands at a
        moment of its own: what follows it varies), in three modes."""
        runs = [self._writes(flow) for _ in range(2)]
        return [
            FaultPoint(flow, function, service, operation, occurrence, mode)
            for (function, service, operation), count in sorted(runs[0].items())
            for occurrence in sorted({1, count if runs[1].get((function, service, operation)) == count else 1})
            for mode in ("crash-before", "crash-after", "contention")
        ]

    def _writes(self, flow: str) -> Counter:
        """How often each (function, service, operation) wrote in a clean run of the flow."""
        first = len(self.boundary.calls)
        if problems := self.run(flow):
            raise AssertionError(f"the clean {flow} flow fails: {problems}")
        return Counter(
            (call.function, call.service, call.operation)
            for call in self.boundary.calls[first:]
            if call.is_write and call.function in FLOWS[flow][1] and call.error is None
        )


def run_point(matrix: Matrix, point: FaultPoint | TimingPoint) -> list[str]:
    if isinstance(point, TimingPoint):
        return matrix.run(point.flow, timing=point)
    return matrix.run(point.flow, point.fault())


def sample_timings() -> list[TimingPoint]:
    """What CI runs of the timings: each action right after the stop, where the window is widest."""
    return [point for point in TIMINGS if point.moment == MOMENTS[0]]


def sample(points: list[FaultPoint]) -> list[FaultPoint]:
    """What CI runs: for every flow, each mode once, on writes spread over its functions."""
    chosen: dict[tuple[str, str], FaultPoint] = {}
    for index, point in enumerate(points):
        key = (point.flow, point.mode)
        if key not in chosen or (index % 7 == 0 and point.function != chosen[key].function):
            chosen[key] = point
    return list(chosen.values())


@contextmanager
def strict_stack() -> Iterator[Matrix]:
    """A local stack of its own (its clients and environment, forgotten afterwards)."""
    saved = dict(os.environ)
    os.environ["BULK_IMPORT_RETRY_SCALE"] = RETRY_SCALE
    clear_cached_clients()
    try:
        with LocalStack(moto_port=0, api_port=0) as stack:
            yield Matrix(stack, stack.boundary)
    finally:
        clear_cached_clients()
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", action="store_true", help="only the sample CI runs")
    parser.add_argument("--flow", action="append", choices=sorted([*FLOWS, "window"]), help="only these flows")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = sys.stdout
    # The handlers' logs, metrics and tracebacks (of the crashes injected) are not the report.
    with strict_stack() as matrix, open(os.devnull, "w") as quiet, redirect_stdout(quiet), redirect_stderr(quiet):
        flows = args.flow or [*FLOWS, "window"]
        points: list[FaultPoint | TimingPoint] = [
            point for flow in flows if flow in FLOWS for point in matrix.points(flow)
        ]
        if args.sample:
            points = list(sample(points))
        if "window" in flows:
            points += sample_timings() if args.sample else TIMINGS
        failed, not_reached = [], []
        for number, point in enumerate(points, 1):
            problems = run_point(matrix, point)
            verdict = "survived" if not problems else "not reached" if problems == [NOT_REACHED] else "BROKEN"
            print(f"[{number}/{len(points)}] {verdict}  {point}", file=report, flush=True)
            for problem in problems if verdict == "BROKEN" else ():
                print(f"    {problem}", file=report, flush=True)
            (failed if verdict == "BROKEN" else not_reached if problems else []).append(point)
    reached = len(points) - len(not_reached)
    print(
        f"{reached - len(failed)} of {reached} fault points survived ({len(not_reached)} not reached; "
        f"{time.monotonic() - started:.0f} s)",
        file=report,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

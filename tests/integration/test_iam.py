"""Least privilege, both ways. Every AWS call a function makes while its handler runs on moto is
allowed by its policy in template.yaml (the SDK boundary refuses it otherwise, as AWS would:
bulk_import_cli/iam_policies.py), and every grant of every policy (each action on each resource,
each dynamodb:LeadingKeys and s3:prefix pattern) is used by some call of one run through every
event file and the worker's paths, or is listed in NOT_CALLED_BY_THE_CODE with the reason."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import boto3
import botocore.client
import pytest

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import DirectoryEntry, DirectoryItems
from bulk_import.dal.dynamodb.operation_items import latest_operation_key
from bulk_import.dal.dynamodb.table import marshal
from bulk_import.dal.public_urls import ResponseTooLarge
from bulk_import.dal.s3 import ImportFiles, default_files, snapshot_key
from bulk_import.dal.stepfunctions import WorkerExecutions, default_executions
from bulk_import.domain.operation import ImportState, ProgressStep, utc_now
from bulk_import.logic.imports.rocketchat import rocketchat_add_users, rocketchat_new, rocketchat_run
from bulk_import.logic.imports.snapshots import start_snapshot_import
from bulk_import.logic.imports.start import start_records_import
from bulk_import.logic.imports.stop import cancel
from bulk_import.logic.worker.steps import OperationStopped
from bulk_import.settings import get_import_settings
from bulk_import_cli.demo import seed_demo
from bulk_import_local.iam_policies import Grant, Request, function_policies, requests_of
from bulk_import_local.sdk_boundary import SimulatedCrash, current_function
from tests.support.events import load_event
from tests.support.file_server import FileServer, file_server
from tests.support.records import user, users_jsonl, zipped
from tests.support.stack import FUNCTIONS, ROOT, TEMPLATE
from tests.support.worker import RecordedExecutions, batch_descriptors

POLICIES = function_policies(TEMPLATE.raw)
#: Grants no call of the functions' code makes, and why they are granted.
NOT_CALLED_BY_THE_CODE = {
    ("ImportEventsFunction", "sqs:SendMessage"): "Lambda's event source mapping sends failed stream batches "
    "to the dead-letter queue with the function's role",
    ("ImportEventsFunction", "sqs:SendMessageBatch"): "granted with SendMessage by SAM's SQSSendMessagePolicy",
}
#: Patterns one call of the code serves alike (the worker writes and reads every kind of directory
#: entry through the same calls): one use covers them all.
SAME_CODE_PATH = {"USER#*", "CHANNEL#*", "MESSAGE#*"}
#: Presigned URLs are signed with the function's role: the client's request needs its grant.
PRESIGNED = {"presigned_put": "s3:PutObject", "presigned_part": "s3:PutObject", "presigned_get": "s3:GetObject"}


@pytest.fixture
def calls(store, monkeypatch):
    """The IAM requests of every AWS call made (and presigned URL signed) while a function runs."""
    seen: dict[str, set[Request]] = defaultdict(set)
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation_name, api_params):
        if function := current_function.get():
            seen[function].update(requests_of(self.meta.service_model.service_name, operation_name, api_params))
        return original(self, operation_name, api_params)

    for method, action in PRESIGNED.items():

        def presigned(self, key, *args, _signed=getattr(ImportFiles, method), _action=action, **kwargs):  # noqa: B008
            if function := current_function.get():
                seen[function].add(Request(_action, f"object/{key}"))
            return _signed(self, key, *args, **kwargs)

        monkeypatch.setattr(ImportFiles, method, presigned)
    # Installed over the strict SDK boundary and removed before it (this fixture ends first), not
    # through monkeypatch, which would put it back only after the boundary is gone.
    botocore.client.BaseClient._make_api_call = record
    yield seen, FUNCTIONS.invoke
    botocore.client.BaseClient._make_api_call = original


def _uses(grant: Grant, request: Request, leading_key: str | None, prefix: str | None) -> bool:
    """Whether `request` uses `grant` through its pattern `leading_key` / `prefix` (None: any)."""
    narrowed = Grant(
        grant.action,
        grant.resource,
        None if leading_key is None else (leading_key,),
        None if prefix is None else (prefix,),
    )
    return narrowed.allows(request)


def unused_grants(function: str, requests: set[Request]) -> list[str]:
    """The grants of the function's policy (one per pattern of a condition) no request uses."""
    unused = []
    for grant in POLICIES[function].grants:
        patterns = list(grant.leading_keys or [None])
        if set(patterns) >= SAME_CODE_PATH:  # one entry for them all: used if any is
            patterns = [next(p for p in patterns if p in SAME_CODE_PATH)] + [
                p for p in patterns if p not in SAME_CODE_PATH
            ]
        for leading_key in patterns:
            for prefix in grant.s3_prefixes or [None]:
                if (function, grant.action) in NOT_CALLED_BY_THE_CODE:
                    continue
                alike = SAME_CODE_PATH if leading_key in SAME_CODE_PATH else {leading_key}
                if not any(_uses(grant, request, pattern, prefix) for request in requests for pattern in alike):
                    unused.append(
                        f"{grant.action} on {grant.resource}"
                        + (f" for {leading_key}" if leading_key else "")
                        + (f" under {prefix}" if prefix else "")
                    )
    return unused


def fresh_cells(store, rocketchat_cell: str) -> None:
    """The table and the demo's files as seed_demo leaves them (written as no function: nothing
    recorded; an event file may have deleted the demo's snapshot)."""
    for page in (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=store.table_name, ProjectionExpression="PK, SK")
    ):
        for first in range(0, len(page["Items"]), 25):
            store.client.batch_write_item(
                RequestItems={
                    store.table_name: [{"DeleteRequest": {"Key": key}} for key in page["Items"][first : first + 25]]
                }
            )
    seed_demo(store, rocketchat_cell, default_files())


def run_every_event_file(store, run, rocketchat_cell: str) -> None:
    """Each file of events/ through its function, from the state it was written for."""
    for path in sorted((ROOT / "events").rglob("*.json")):
        relative = path.relative_to(ROOT / "events")
        fresh_cells(store, rocketchat_cell)
        run(relative.parts[0], load_event(str(relative)))


def run_the_worker_on_a_retry_of_a_canceled_import(store, run, monkeypatch) -> None:
    """The worker's three functions, called as the state machine calls them, on the path that
    reads the most: a retry of a canceled import (failed records, markers, uncounted batches), which
    first settles its parent's counts (a batch that imported, then died before counting)."""
    records = [
        {"type": "user", "username": f"iam{n}", "emails": [] if n == 3 else [f"iam{n}@example.com"]} for n in range(120)
    ]
    started = start_records_import(store, default_files(), RecordedExecutions(), "iamcell", records, None, "t")
    reference = {"cell": "iamcell", "id": started.id}
    staged = run("ImportStageFunction", stage_task(reference))
    run("ImportBatchFunction", {"batch": {"cell": "iamcell", "operationId": started.id, "type": "user", "batch": 0}})
    with monkeypatch.context() as dying:
        dying.setattr(ImportStore, "count_batch", lambda *args, **kwargs: (_ for _ in ()).throw(SimulatedCrash()))
        with pytest.raises(SimulatedCrash):  # batch 1 imported its 50 users, then died
            run(
                "ImportBatchFunction",
                {"batch": {"cell": "iamcell", "operationId": started.id, "type": "user", "batch": 1}},
            )
    parent = cancel(store, RecordedExecutions(), store.latest_operation("iamcell"))
    assert staged["staged"] and parent.count.error == 1 and parent.reconcile_pending  # settled by the retry
    # Stopped long enough ago that no attempt of its batches can run: the retry settles its counts.
    store.client.update_item(
        TableName=store.table_name,
        Key=marshal(latest_operation_key("iamcell")),
        UpdateExpression="SET finishedAt = :long_ago",
        ExpressionAttributeValues=marshal({":long_ago": (utc_now() - timedelta(hours=1)).isoformat()}),
    )

    from bulk_import.logic.imports.retry import retry

    child = retry(
        store,
        default_files(),
        RecordedExecutions(),
        parent,
        {"user:3": records[3] | {"emails": ["iam3@example.com"]}},
        "t",
    )
    child_reference = {"cell": "iamcell", "id": child.id}
    task = run("ImportStageFunction", stage_task(child_reference))
    manifest = json.loads(
        default_files()
        .client.get_object(Bucket=task["manifest"]["bucket"], Key=task["manifest"]["user"])["Body"]
        .read()
    )
    for descriptor in (descriptor for group in manifest for descriptor in batch_descriptors(group)):
        run("ImportBatchFunction", {"batch": descriptor})
    for phase in ("channels", "messages", "done"):
        run("ImportPhaseFunction", {"operation": child_reference, "phase": phase})
    assert store.operation("iamcell", parent.id).count.error == 21
    assert store.latest_operation("iamcell").count.completed == 21
    run(
        "ImportPhaseFunction",
        {"operation": child_reference, "phase": "failed", "error": {"Error": "States.Timeout", "Cause": "{}"}},
    )


def stage_task(reference: dict) -> dict:
    """The stage function's input, as the state machine gives it."""
    return {"operation": reference, "execution": default_executions().execution_arn(reference["id"])}


def staged(store, run, operation) -> dict:
    return run("ImportStageFunction", stage_task({"cell": operation.cell, "id": operation.id}))


def batch_event(operation, batch: int) -> dict:
    return {"batch": {"cell": operation.cell, "operationId": operation.id, "type": "user", "batch": batch}}


def run_the_stages_of_every_source(store, run, rocketchat_cell: str) -> None:
    """A Personium snapshot (cells/) and Rocket.Chat's import.addUsers (staged in the table)."""
    files = default_files()
    files.put(snapshot_key("iamsnap", "s"), zipped({"users.jsonl": users_jsonl(3)}))
    staged(store, run, start_snapshot_import(store, files, RecordedExecutions(), "iamsnap", "s", "t"))
    rocketchat_new(store, RecordedExecutions(), rocketchat_cell, "t")
    rocketchat_add_users(store, rocketchat_cell, [user(1)])
    staged(store, run, rocketchat_run(store, RecordedExecutions(), rocketchat_cell))


def run_a_file_of_each_selection_order(store, run, rocketchat_cell: str) -> None:
    """uploadImportFile, staged, then the two orders of AwaitSelection and startImport: startImport
    sends the token AwaitSelection recorded, or AwaitSelection sends its own when startImport came
    first. The tokens are none Step Functions issued: it answers that no task has them."""
    for await_first in (True, False):
        fresh_cells(store, rocketchat_cell)
        upload = run("RocketChatImportFunction", load_event("RocketChatImportFunction/upload-import-file.json"))
        assert upload["statusCode"] == 200
        operation = store.latest_operation(rocketchat_cell)
        assert staged(store, run, operation)["awaitsSelection"]
        awaiting = {"operation": {"cell": rocketchat_cell, "id": operation.id}, "phase": "await-selection"}
        start = load_event("RocketChatImportFunction/start-import-not-prepared.json")
        if await_first:
            run("ImportPhaseFunction", awaiting | {"token": "a-token-startimport-sends"})
        assert run("RocketChatImportFunction", start)["statusCode"] == 200
        if not await_first:
            run("ImportPhaseFunction", awaiting | {"token": "a-token-awaitselection-sends"})


def run_a_selection_the_sweeper_sends(store, run, rocketchat_cell: str, monkeypatch) -> None:
    """startImport dies after moving the operation on and before sending the execution its token:
    the sweeper sends it."""
    fresh_cells(store, rocketchat_cell)
    assert (
        run("RocketChatImportFunction", load_event("RocketChatImportFunction/upload-import-file.json"))["statusCode"]
        == 200
    )
    operation = store.latest_operation(rocketchat_cell)
    staged(store, run, operation)
    awaiting = {"operation": {"cell": rocketchat_cell, "id": operation.id}, "phase": "await-selection"}
    run("ImportPhaseFunction", awaiting | {"token": "a-token-the-sweeper-sends"})
    start = load_event("RocketChatImportFunction/start-import-not-prepared.json")
    with monkeypatch.context() as dying:
        dying.setattr(WorkerExecutions, "resume", lambda *a: (_ for _ in ()).throw(RuntimeError("died")))
        assert run("RocketChatImportFunction", start)["statusCode"] == 500
    with monkeypatch.context() as later:
        later.setattr(FUNCTIONS.module("ImportSweeperFunction"), "utc_now", lambda: utc_now() + timedelta(minutes=3))
        swept = run("ImportSweeperFunction", load_event("ImportSweeperFunction/scheduled.json"))
    assert swept["resumed"] == [operation.id]


def run_a_stop_around_batches_and_the_sweeper(store, run, monkeypatch) -> None:
    """Batch 0 dies after importing and is counted late by its retry, after a cancel; batch 1 dies
    the same way and is counted by the sweeper; meanwhile an import stalls (the sweeper fails it
    and stops its execution), and the demo's sample import, never started, is. Then two attempts of a
    batch race across a stop: the loser removes the entries it should not have made."""
    files, executions = default_files(), default_executions()
    stopped = start_records_import(
        store, files, executions, "iamstop", [{"type": "user", **user(n)} for n in range(100)], None, "t"
    )
    staged(store, run, stopped)
    counting = ImportStore.count_batch
    with monkeypatch.context() as dying:
        dying.setattr(ImportStore, "count_batch", lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("died")))
        for batch in (0, 1):
            with pytest.raises(RuntimeError):
                run("ImportBatchFunction", batch_event(stopped, batch))
    assert ImportStore.count_batch is counting
    cancel(store, executions, store.latest_operation("iamstop"))
    with pytest.raises(OperationStopped):  # the retry of batch 0 counts it late
        run("ImportBatchFunction", batch_event(stopped, 0))
    stalled = start_records_import(store, files, executions, "iamstall", [{"type": "user", **user(1)}], None, "t")
    staged(store, run, stalled)

    sweeper = FUNCTIONS.module("ImportSweeperFunction")
    monkeypatch.setattr(sweeper, "utc_now", lambda: utc_now() + timedelta(hours=2))
    swept = run("ImportSweeperFunction", load_event("ImportSweeperFunction/scheduled.json"))
    assert stalled.id in swept["failed"] and stopped.id in swept["reconciled"]
    assert swept["started"]  # the demo's sample import in progress was never started
    assert store.latest_operation("iamstop").count.completed == 100

    raced = start_records_import(
        store, files, RecordedExecutions(), "iamrace", [{"type": "user", **user(n)} for n in range(5)], None, "t"
    )
    staged(store, run, raced)
    inserting = ImportStore.insert_directory_entries

    def insert_then_race(self, cell, entries):  # user0-2, then attempt B, then user3-4
        created = inserting(self, cell, entries[:3])
        # attempt B, seeing the import canceled, counts what exists now
        token = current_function.set(None)  # the cancel is a client's, not the batch's
        cancel(store, RecordedExecutions(), store.latest_operation("iamrace"))
        current_function.reset(token)
        with pytest.raises(OperationStopped):
            run("ImportBatchFunction", batch_event(raced, 0))
        return created + inserting(self, cell, entries[3:])

    monkeypatch.setattr(ImportStore, "insert_directory_entries", insert_then_race)
    with pytest.raises(OperationStopped):  # attempt A: removes user3 and user4
        run("ImportBatchFunction", batch_event(raced, 0))


def with_request(event: dict, path: str, body: dict | None = None, **headers: str) -> dict:
    """An event of events/ sent to another path (its parameters taken from it), body or headers."""
    template = event["resource"].split("/")
    parameters = {
        name[1:-1]: value for name, value in zip(template, path.split("/"), strict=False) if name.startswith("{")
    }
    return event | {
        "path": path,
        "pathParameters": parameters,
        # API Gateway gives each header in both forms; Powertools reads parameters from the multi-value one.
        "headers": event["headers"] | headers,
        "multiValueHeaders": (event.get("multiValueHeaders") or {})
        | {name: [value] for name, value in headers.items()},
        "body": json.dumps(body) if body is not None else event["body"],
    }


def run_what_the_event_files_leave_out(store, run, rocketchat_cell: str, monkeypatch) -> None:
    """Stops of imports whose execution runs (cancel, import.clear), starts that Step Functions
    refuses (the import claimed ends as failed, a keyed start frees its key), and a multipart
    upload finished."""
    fresh_cells(store, rocketchat_cell)
    with monkeypatch.context() as refusing:
        refusing.setattr(WorkerExecutions, "start", lambda *a: (_ for _ in ()).throw(RuntimeError("refused")))
        assert (
            run("PersoniumImportFunction", load_event("PersoniumImportFunction/start-import.json"))["statusCode"] == 500
        )
        assert (
            run("NativeWriteFunction", load_event("NativeWriteFunction/start-import-records.json"))["statusCode"] == 500
        )
    refused = store.latest_operation("elsewhere")
    assert (
        store.latest_operation(
            load_event("PersoniumImportFunction/start-import.json")["pathParameters"]["CellName"]
        ).state
        is ImportState.ERROR
    )
    started = json.loads(
        run("NativeWriteFunction", load_event("NativeWriteFunction/start-import-records.json"))["body"]
    )
    assert refused.state is ImportState.ERROR and started["id"] != refused.id  # the refused start freed its key
    cancel_event = load_event("NativeWriteFunction/cancel-import.json")
    token = load_event("NativeWriteFunction/start-import-records.json")["headers"]["Authorization"]
    assert (
        run(
            "NativeWriteFunction",
            with_request(cancel_event, f"/v1/cells/elsewhere/imports/{started['id']}/cancel", Authorization=token),
        )["statusCode"]
        == 200
    )
    for key, status in (("a-second-key", 202), ("a-third-key", 409)):  # a new import; then the cell is busy
        start = with_request(
            load_event("NativeWriteFunction/start-import-records.json"),
            "/v1/cells/elsewhere/imports",
            **{"Idempotency-Key": key},
        )
        assert run("NativeWriteFunction", start)["statusCode"] == status

    for name in ("import-new", "import-add-users", "import-run", "import-clear"):
        assert run("RocketChatImportFunction", load_event(f"RocketChatImportFunction/{name}.json"))["statusCode"] == 200

    created = json.loads(
        run("NativeWriteFunction", load_event("NativeWriteFunction/create-upload-multipart.json"))["body"]
    )
    files = default_files()
    key, multipart_id = files.pending_multipart(f"uploads/elsewhere/{created['uploadId']}/")
    part = files.client.upload_part(Bucket=files.bucket, Key=key, UploadId=multipart_id, PartNumber=1, Body=b"{}\n")
    complete = with_request(
        load_event("NativeWriteFunction/create-upload-multipart.json"),
        f"/v1/cells/elsewhere/uploads/{created['uploadId']}/complete",
        {"etags": [part["ETag"]]},
    )
    assert (
        run("NativeWriteFunction", complete | {"resource": "/v1/cells/{cell}/uploads/{uploadId}/complete"})[
            "statusCode"
        ]
        == 200
    )


@contextmanager
def big_file_served(monkeypatch, name: str) -> Iterator[FileServer]:
    """A server on loopback, allowlisted, serving `name`: 9 MiB, the functions' limit (a file in parts)."""
    monkeypatch.setenv("SSRF_ALLOWLIST", "127.0.0.1")
    monkeypatch.setenv("DOWNLOAD_MAX_MEGABYTES", "9")
    get_import_settings.cache_clear()
    try:
        with file_server() as server:
            server.files[name] = b"x" * (9 * 1024 * 1024)
            yield server
    finally:
        get_import_settings.cache_clear()


def run_a_download_of_each_outcome(store, run, rocketchat_cell: str, monkeypatch) -> None:
    """downloadPublicImportFile from an allowlisted server, then the stage function's download: a
    file in parts, and one that fails after its first part (its parts aborted)."""
    with big_file_served(monkeypatch, "big.zip") as server:
        for path in ("files/big.zip", f"stream/{10 * 1024 * 1024}"):
            fresh_cells(store, rocketchat_cell)
            event = load_event("RocketChatImportFunction/download-public-import-file-refused.json")
            event["body"] = json.dumps({"fileUrl": f"{server.url}/{path}", "importerKey": "csv"})
            assert run("RocketChatImportFunction", event)["statusCode"] == 200
            try:
                staged(store, run, store.latest_operation(rocketchat_cell))
            except ResponseTooLarge:
                assert path.startswith("stream/")
    assert store.latest_operation(rocketchat_cell).step == ProgressStep.DOWNLOADING_FILE


def run_pending_downloads(store, run, rocketchat_cell: str, monkeypatch) -> None:
    """downloadPendingFiles of what an import left: the route counts it on the index, the stage
    function stages it from there, and a batch downloads one file in parts and fails another after
    its first part (its parts aborted)."""
    with big_file_served(monkeypatch, "big.bin") as server:
        fresh_cells(store, rocketchat_cell)
        data = {
            "files": [{"url_private_download": f"{server.url}/{path}"} for path in ("files/big.bin", "stream/10485760")]
        }
        # (DirectoryItems': run_a_stop_around_batches_and_the_sweeper leaves ImportStore's patched)
        DirectoryItems.insert_directory_entries(
            store, rocketchat_cell, [DirectoryEntry("message", "general#m1", data, "seed#message#0", downloads=2)]
        )
        answer = run("RocketChatImportFunction", load_event("RocketChatImportFunction/download-pending-files.json"))
        assert json.loads(answer["body"]) == {"count": 2, "success": True}
        operation = store.latest_operation(rocketchat_cell)
        staged(store, run, operation)
        run("ImportBatchFunction", {"batch": batch_event(operation, 0)["batch"] | {"type": "message"}})
    assert store.count_pending_downloads(rocketchat_cell, "message") == 1


def test_every_call_a_function_makes_is_allowed_and_every_grant_is_used(
    store, calls, function_environment, monkeypatch
):
    seen, run = calls
    rocketchat_cell = function_environment["ROCKETCHAT_CELL"]
    seed_demo(store, rocketchat_cell, default_files())
    run_every_event_file(store, run, rocketchat_cell)
    fresh_cells(store, rocketchat_cell)
    run_the_worker_on_a_retry_of_a_canceled_import(store, run, monkeypatch)
    run_the_stages_of_every_source(store, run, rocketchat_cell)
    run_a_stop_around_batches_and_the_sweeper(store, run, monkeypatch)
    run_what_the_event_files_leave_out(store, run, rocketchat_cell, monkeypatch)
    run_a_file_of_each_selection_order(store, run, rocketchat_cell)
    run_a_download_of_each_outcome(store, run, rocketchat_cell, monkeypatch)
    run_pending_downloads(store, run, rocketchat_cell, monkeypatch)
    run_a_selection_the_sweeper_sends(store, run, rocketchat_cell, monkeypatch)

    assert set(seen) >= {
        "NativeReadFunction",
        "NativeWriteFunction",
        "ImportStageFunction",
        "ImportBatchFunction",
        "ImportPhaseFunction",
        "ImportEventsFunction",
        "ImportSweeperFunction",
    }
    refused = {
        function: sorted(
            f"{r.action} on {r.resource} ({r.leading_key or r.s3_prefix or ''})"
            for r in requests
            if not POLICIES[function].allows(r)
        )
        for function, requests in seen.items()
    }
    refused = {function: requests for function, requests in refused.items() if requests}
    assert refused == {}, json.dumps(refused, indent=1)
    unused = {
        function: grants for function in POLICIES if (grants := unused_grants(function, seen.get(function, set())))
    }
    assert unused == {}, json.dumps(unused, indent=1)


def test_an_unused_grant_is_found():
    requests = {Request("dynamodb:BatchGetItem", "table", "CELL#a")}
    assert unused_grants("PersoniumStatusFunction", requests) == ["dynamodb:BatchGetItem on table for TOKEN#*"]


def test_a_call_outside_the_policy_is_refused_as_aws_refuses_it(store):
    from botocore.exceptions import ClientError

    from bulk_import.dal.dynamodb import default_store

    token = current_function.set("PersoniumStatusFunction")
    try:
        with pytest.raises(ClientError) as refused:  # a status function writing a credential
            default_store().client.put_item(
                TableName=store.table_name, Item={"PK": {"S": "TOKEN#x"}, "SK": {"S": "TOKEN"}}
            )
    finally:
        current_function.reset(token)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_s3_answers_a_missing_key_with_403_to_a_function_that_may_not_list_the_bucket(store):
    from botocore.exceptions import ClientError

    files = default_files()
    # The stage function may read snapshots, not list the bucket: as on S3, a missing one is 403.
    for function, code in (("ImportStageFunction", "403"), (None, "404")):
        token = current_function.set(function)
        try:
            with pytest.raises(ClientError) as missing:
                files.client.head_object(Bucket=files.bucket, Key="cells/demo/snapshots/nothing.zip")
        finally:
            current_function.reset(token)
        assert missing.value.response["Error"]["Code"] == code
    # So Personium's import function lists (its policy allows it under cells/): a missing snapshot is 404.
    assert POLICIES["PersoniumImportFunction"].answers_missing_key_with_403()
    assert (
        FUNCTIONS.invoke(
            "PersoniumImportFunction", load_event("PersoniumImportFunction/start-import-snapshot-not-found.json")
        )["statusCode"]
        == 404
    )


def test_an_insert_is_authorized_by_its_statement_and_partition(store):
    """IAM authorizes each statement of a BatchExecuteStatement as its kind (dynamodb:PartiQLInsert),
    with the partition it writes: the batch function may insert an entry, not a credential."""
    from botocore.exceptions import ClientError

    from bulk_import.dal.dynamodb import default_store

    def insert(pk: str) -> dict:
        return {
            "Statement": f"INSERT INTO \"{store.table_name}\" VALUE {{'PK': ?, 'SK': ?}}",
            "Parameters": [{"S": pk}, {"S": "X"}],
        }

    token = current_function.set("ImportBatchFunction")
    try:
        client = default_store().client
        assert "Error" not in client.batch_execute_statement(Statements=[insert("USER#iam#ada")])["Responses"][0]
        with pytest.raises(ClientError) as refused:
            client.batch_execute_statement(Statements=[insert("USER#iam#bob"), insert("TOKEN#x")])
    finally:
        current_function.reset(token)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:PartiQLInsert" in refused.value.response["Error"]["Message"]

"""Whole imports through the local stack: HTTP in both dialects, the real ASL run by moto's
interpreter, the Lambda tasks dispatched in-process."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
import requests

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.directory_items import directory_key
from bulk_import.domain.operation import ImportState, ProgressStep
from bulk_import.logic.admin import create_cell_token
from bulk_import_cli import demo
from bulk_import_local import moto_stepfunctions
from tests.support.events import load_event
from tests.support.personium_exports import CellExport
from tests.support.waiting import TIMEOUT, wait_until

RC = {"X-User-Id": demo.ROCKETCHAT_USER_ID, "X-Auth-Token": demo.ROCKETCHAT_AUTH_TOKEN}


def user(number: int, **changes) -> dict:
    return {"username": f"flow{number}", "emails": [f"flow{number}@example.com"], "importIds": [f"f{number}"]} | changes


def rc_post(stack, route: str, body=None) -> requests.Response:
    return requests.post(f"{stack.api_url}/api/v1/{route}", json=body, headers=RC, timeout=TIMEOUT)


def rc_status(stack) -> dict:
    return requests.get(f"{stack.api_url}/api/v1/import.status", headers=RC, timeout=TIMEOUT).json()


@pytest.fixture
def cell_token(local_stack):
    def issue(cell: str) -> dict:
        token = create_cell_token(local_stack.store, cell, root=True).access_token
        return {"Authorization": f"Bearer {token}"}

    return issue


def test_rocketchat_api_import_reports_counts_per_batch_and_ends_done(local_stack):
    assert rc_post(local_stack, "import.new").json()["operation"]["status"] == "importer_new"
    users = [user(n) for n in range(260)]
    users[3]["emails"] = ["invalid"]
    assert rc_post(local_stack, "import.addUsers", {"users": users[:200]}).json() == {"success": True}
    assert rc_post(local_stack, "import.addUsers", {"users": users[200:]}).json() == {"success": True}
    ready = rc_status(local_stack)
    assert ready["state"] == "ready" and ready["operation"]["count"]["total"] == 260

    assert rc_post(local_stack, "import.run").json() == {"success": True}
    seen = []

    def finished():
        status = rc_status(local_stack)
        if status["operation"]["status"] == "importer_importing_users":
            count = status["operation"]["count"]
            seen.append(count["completed"] + count["error"])
        return status if status["state"] not in ("importing", "loading") else None

    final = wait_until(finished)
    assert final["state"] == "done"
    count = final["operation"]["count"]
    assert (count["completed"], count["error"], count["total"]) == (259, 1, 260)
    assert seen and all(processed % 50 == 0 or processed == 260 for processed in seen)
    assert rc_post(local_stack, "import.addUsers", {"users": [user(999)]}).json() == {
        "success": False,
        "error": "The current import operation is already finished.",
    }


def test_personium_snapshot_import_over_http(local_stack, cell_token):
    auth = cell_token("flowcell")
    put = requests.put(
        f"{local_stack.api_url}/flowcell/__snapshot/snap.zip",
        data=demo.demo_users_zip(150),
        headers=auth | {"Content-Type": "application/zip"},
        timeout=TIMEOUT,
    )
    assert put.status_code == 201
    started = requests.post(
        f"{local_stack.api_url}/flowcell/__import", json={"Name": "snap"}, headers=auth, timeout=TIMEOUT
    )
    assert started.status_code == 202
    assert started.headers["Location"].endswith("/flowcell/__import")

    assert started.headers["Location"] == f"{local_stack.api_url}/flowcell/__import"
    final = wait_until(
        lambda: (
            (s := requests.get(started.headers["Location"], headers=auth, timeout=TIMEOUT).json())["status"]
            != "importation in progress"
            and s
        )
    )
    assert final == {"status": "ready"}
    operation = local_stack.store.latest_operation("flowcell")
    assert operation.step is ProgressStep.DONE
    assert (operation.count.users, operation.count.channels, operation.count.messages) == (150, 1, 1)
    assert operation.count.completed + operation.count.error == operation.count.total == 152


def test_a_snapshot_that_is_not_a_zip_is_refused_before_the_202_with_personiums_message(local_stack, cell_token):
    auth = cell_token("badzip")
    for name, content in (("text", b"plain text"), ("cut", CellExport().zip()[:-30])):
        requests.put(
            f"{local_stack.api_url}/badzip/__snapshot/{name}.zip",
            data=content,
            headers=auth | {"Content-Type": "application/zip"},
            timeout=TIMEOUT,
        )
        refused = requests.post(
            f"{local_stack.api_url}/badzip/__import", json={"Name": name}, headers=auth, timeout=TIMEOUT
        )
        assert (refused.status_code, refused.json()) == (
            400,
            {
                "code": "PR400-MC-0004",
                "message": {"lang": "en", "value": "The specified snapshot file is not zip file."},
            },
        )
    status = requests.get(f"{local_stack.api_url}/badzip/__import", headers=auth, timeout=TIMEOUT)
    assert status.json() == {"status": "ready"}


def test_no_state_of_the_worker_carries_more_as_the_batches_grow(local_stack, cell_token, monkeypatch):
    """The real state machine, 2 batches and then 30, in children of 2 batches: every state's largest
    payload is the same but for a few digits (the Maps write their children's results to S3, a
    child's batches answer nothing), far from 256 KiB."""
    monkeypatch.setattr("bulk_import.logic.worker.steps.BATCHES_PER_CHILD", 2)  # the stage function runs in-process
    largest = []
    for cell, users in (("payload-small", 100), ("payload-large", 1500)):
        auth = cell_token(cell)
        requests.put(
            f"{local_stack.api_url}/{cell}/__snapshot/s.zip",
            data=demo.demo_users_zip(users),
            headers=auth | {"Content-Type": "application/zip"},
            timeout=TIMEOUT,
        )
        moto_stepfunctions.reset_payload_sizes()
        requests.post(f"{local_stack.api_url}/{cell}/__import", json={"Name": "s"}, headers=auth, timeout=TIMEOUT)
        wait_until(lambda: (o := local_stack.store.latest_operation(cell)) and not o.is_active)  # noqa: B023 (called here)
        wait_until(lambda: "Done" in moto_stepfunctions.payload_sizes())  # the execution's end, just after
        largest.append(moto_stepfunctions.payload_sizes())
    small, large = largest
    assert {"Stage", "ImportUsers", "ImportGroup", "ImportBatch", "Finish"} <= set(large)
    assert {state: size for state, size in large.items() if size > small.get(state, 0) + 16} == {}
    assert max(large.values()) < 1024


@pytest.mark.parametrize("concurrently", [False, True])
def test_every_task_and_map_child_delivered_twice_still_counts_each_record_once(local_stack, cell_token, concurrently):
    """At least once, as Step Functions and Lambda deliver: every stage, batch and phase invocation
    runs twice (one after the other, or at the same time), and the counts stay exact."""
    cell = f"twice-{'concurrent' if concurrently else 'sequential'}"
    auth = cell_token(cell)
    requests.put(
        f"{local_stack.api_url}/{cell}/__snapshot/s.zip",
        data=demo.demo_users_zip(260),
        headers=auth | {"Content-Type": "application/zip"},
        timeout=TIMEOUT,
    )
    for function in ("ImportStageFunction", "ImportBatchFunction", "ImportPhaseFunction"):
        local_stack.host.faults.deliver_twice(function, concurrently=concurrently)
    try:
        requests.post(f"{local_stack.api_url}/{cell}/__import", json={"Name": "s"}, headers=auth, timeout=TIMEOUT)
        operation = wait_until(lambda: (o := local_stack.store.latest_operation(cell)) and not o.is_active and o)
    finally:
        local_stack.host.faults.clear()
    assert [i for i in local_stack.host.invocations if i.function == "ImportBatchFunction" and not i.delivered]
    assert operation.state is ImportState.DONE
    assert (operation.count.completed, operation.count.error, operation.count.total) == (249, 13, 262)
    users = sum(entry_exists(local_stack, cell, f"user{n}") for n in range(260))
    assert users == 260 - 13  # every 20th of 260 users has no email (demo_users_zip)


def test_two_concurrent_starts_one_accepted_one_409(local_stack, cell_token):
    auth = cell_token("race")
    requests.put(
        f"{local_stack.api_url}/race/__snapshot/s.zip",
        data=demo.demo_users_zip(100),
        headers=auth | {"Content-Type": "application/zip"},
        timeout=TIMEOUT,
    )
    barrier = threading.Barrier(2)
    codes = []

    def start():
        barrier.wait()
        codes.append(
            requests.post(
                f"{local_stack.api_url}/race/__import", json={"Name": "s"}, headers=auth, timeout=TIMEOUT
            ).status_code
        )

    threads = [threading.Thread(target=start) for _ in range(2)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert sorted(codes) == [202, 409]
    wait_until(lambda: not local_stack.store.latest_operation("race").is_active)


def test_clear_while_importing_stops_the_worker_and_settles_counts(local_stack):
    rc_post(local_stack, "import.new")
    rc_post(local_stack, "import.addUsers", {"users": [user(n, username=f"clear{n}") for n in range(200)]})
    rc_post(local_stack, "import.run")
    wait_until(lambda: rc_status(local_stack)["operation"]["count"]["completed"] >= 50)
    assert rc_post(local_stack, "import.clear").json() == {"success": True}

    final = rc_status(local_stack)
    count = final["operation"]["count"]
    assert final["state"] == "error" and final["operation"]["valid"] is False
    assert count["completed"] + count["error"] <= count["total"] == 200  # settled once no batch can run
    operation = local_stack.store.latest_operation(local_stack.template.parameters["RocketChatCell"])
    execution = wait_until(
        lambda: (
            (e := boto3.client("stepfunctions").describe_execution(executionArn=operation.execution_arn))["status"]
            != "RUNNING"
            and e
        )
    )
    assert execution["status"] == "ABORTED"
    wait_until(lambda: local_stack.host.running() == 0)
    # A batch that was running when cleared counts what it imported (late); once no attempt can run
    # (the local stack's ReconcileAfterSeconds), the scheduled sweeper settles the counts: completed
    # is then exactly the users that exist, and the rest are errors.
    reconcile_after = float(local_stack.template.parameters["ReconcileAfterSeconds"])
    time.sleep(max(0.0, operation.finished_at.timestamp() + reconcile_after - time.time()) + 0.1)
    swept = local_stack.host.invoke("ImportSweeperFunction", load_event("ImportSweeperFunction/scheduled.json"))
    assert operation.id in swept["reconciled"]
    settled = local_stack.store.latest_operation(operation.cell).count
    imported = sum(entry_exists(local_stack, operation.cell, f"clear{n}") for n in range(200))
    assert (settled.completed, settled.completed + settled.error, settled.total) == (imported, 200, 200)


def entry_exists(stack, cell: str, username: str) -> bool:
    key = {name: {"S": value} for name, value in directory_key(cell, "user", username).items()}
    return "Item" in boto3.client("dynamodb").get_item(TableName=stack.store.table_name, Key=key)


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_point", ["insert_directory_entries", "count_batch", "put_failed_records"])
def test_a_crashing_batch_is_retried_by_the_state_machine_with_exact_counts(
    local_stack, cell_token, monkeypatch, crash_point
):
    cell = f"crash{crash_point.replace('_', '')}"
    auth = cell_token(cell)
    real = getattr(ImportStore, crash_point)
    crashes = []

    def crash_once(self, *args, **kwargs):
        if not crashes:
            crashes.append(crash_point)
            raise Crash(crash_point)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ImportStore, crash_point, crash_once)
    requests.put(
        f"{local_stack.api_url}/{cell}/__snapshot/s.zip",
        data=demo.demo_users_zip(120),
        headers=auth | {"Content-Type": "application/zip"},
        timeout=TIMEOUT,
    )
    requests.post(f"{local_stack.api_url}/{cell}/__import", json={"Name": "s"}, headers=auth, timeout=TIMEOUT)
    operation = wait_until(lambda: (o := local_stack.store.latest_operation(cell)) and not o.is_active and o)

    assert crashes == [crash_point]
    assert operation.state is ImportState.DONE
    assert operation.count.completed + operation.count.error == operation.count.total == 122
    assert operation.count.error == 6  # demo_users_zip: every 20th user has no email

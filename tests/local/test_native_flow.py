"""The native API end to end through the local stack: upload, import, errors, retry of the
failed records only (corrected), and the events the operations emit, captured from the bus."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.events import capture_bus_events
from tests.support.native_client import native_client
from tests.support.waiting import TIMEOUT, wait_until

CELL = "retryflow"


@pytest.fixture
def api(local_stack):
    return native_client(local_stack, CELL)


@pytest.fixture
def bus_events(local_stack):
    """Every event on the local stack's import bus about this test's cell."""
    return capture_bus_events(
        local_stack.host.environment()["EVENT_BUS_NAME"],
        "native-flow-events",
        {"source": ["bulk-import"], "detail": {"cell": [CELL]}},
    )


def records(count: int, invalid: set[int]) -> bytes:
    lines = [
        {"type": "user", "username": f"rf{n}", "emails": [] if n in invalid else [f"rf{n}@example.com"]}
        for n in range(count)
    ]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def finished(api, operation_id: str) -> dict:
    return wait_until(
        lambda: (
            (view := api("GET", f"/imports/{operation_id}").json())["state"] not in ("loading", "importing") and view
        )
    )


def test_upload_import_fix_and_retry_the_failed_records_with_events(api, bus_events, local_stack):
    upload = api("POST", "/uploads", json={"filename": "people.jsonl"}).json()
    assert requests.put(upload["url"], data=records(70, invalid={4, 30, 55, 69}), timeout=TIMEOUT).status_code == 200
    started = api("POST", "/imports", json={"uploadId": upload["uploadId"]}, headers={"Idempotency-Key": "flow-1"})
    assert started.status_code == 202
    assert started.headers["Location"] == f"{local_stack.api_url}/v1/cells/{CELL}/imports/{started.json()['id']}"

    parent = finished(api, started.json()["id"])
    assert parent["state"] == "done" and (parent["counts"]["completed"], parent["counts"]["error"]) == (66, 4)
    assert parent["finishedAt"] and parent["expiresAt"] and parent["heartbeatAt"]
    errors = api("GET", f"/imports/{parent['id']}/errors").json()["items"]
    assert [(e["record"], e["source"]) for e in errors] == [
        ("user:4", "people.jsonl:5"),
        ("user:30", "people.jsonl:31"),
        ("user:55", "people.jsonl:56"),
        ("user:69", "people.jsonl:70"),
    ]

    fixes = {e["record"]: e["data"] | {"emails": [f"{e['data']['username']}@example.com"]} for e in errors[:3]}
    retried = api("POST", f"/imports/{parent['id']}/retry", json={"corrections": fixes})
    assert retried.status_code == 202, retried.text
    child = finished(api, retried.json()["id"])

    assert child["state"] == "done" and child["parentId"] == parent["id"]
    assert child["counts"]["total"] == parent["counts"]["error"] == 4
    assert (child["counts"]["completed"], child["counts"]["error"]) == (3, 1)
    assert (
        parent["counts"]["completed"] + child["counts"]["completed"] + child["counts"]["error"]
        == parent["counts"]["total"]
    )
    history = api("GET", "/imports", params={"limit": "5"}).json()["items"]
    assert [item["id"] for item in history] == [child["id"], parent["id"]]

    received = wait_until(
        lambda: (
            (seen := bus_events())
            and any(e["detail"]["id"] == child["id"] and e["detail"]["state"] == "done" for e in seen)
            and seen
        )
    )
    for operation in (parent, child):
        mine = [e for e in received if e["detail"]["id"] == operation["id"]]
        states = [e["detail"]["state"] for e in mine if e["detail-type"] == "Import State Changed"]
        assert list(dict.fromkeys(states)) == ["loading", "importing", "done"]
        percents = [e["detail"]["percent"] for e in mine if e["detail-type"] == "Import Progress"]
        assert percents and all(p % 10 == 0 for p in percents) and percents == sorted(percents)
        # Once each: the local stream delivers every record once, as AWS does (moto_streams.py).
        assert len({(e["detail-type"], e["detail"]["state"], e["detail"]["percent"]) for e in mine}) == len(mine)

"""The native API (/v1), as its clients call it: an upload through the presigned URL, an idempotent
start, the import followed to done, its failed records (JSON pages and the CSV), a retry of only
those (corrected), the history; inline records; a multipart upload's URLs; the problems it answers."""

from __future__ import annotations

import csv
import io

import pytest
import requests

from tests.support.e2e import HTTP_TIMEOUT, Http, Users, wait_for

ACTIVE = ("loading", "importing")
PROBLEM = "urn:bulk-import:problem:"


@pytest.fixture(scope="module")
def cell(cells) -> str:
    return cells.native


@pytest.fixture(scope="module")
def native(native_for, cell) -> Http:
    return native_for(cell)


def finished(native: Http, operation_id: str) -> dict:
    return wait_for(
        f"import {operation_id} to end",
        lambda: (view := native.get(f"/imports/{operation_id}").json())["state"] not in ACTIVE and view,
    )


def problem(response: requests.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["status"]) == (PROBLEM + slug, status)
    return body


def test_every_route_needs_a_valid_bearer_credential(api_url, cell):
    problem(Http(api_url).get(f"/v1/cells/{cell}/imports"), 401, "unauthenticated")
    wrong = Http(api_url, {"Authorization": "Bearer bi_not-a-credential-of-this-stack-000000000"})
    problem(wrong.get(f"/v1/cells/{cell}/imports"), 401, "invalid-credential")


def test_an_upload_imports_to_done_and_only_its_failed_records_are_retried(api_url, cell, native, run):
    users = Users(f"{run}-n", 300, invalid=frozenset({4, 30, 155, 299}))
    upload = native.post("/uploads", json={"filename": "people.jsonl"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["method"] == "PUT"
    stored = requests.put(upload.json()["url"], data=users.jsonl(), timeout=HTTP_TIMEOUT)
    assert stored.status_code == 200, stored.text

    request = {"uploadId": upload.json()["uploadId"], "name": "people"}
    started = native.post("/imports", json=request, headers={"Idempotency-Key": f"{run}-1"})
    assert started.status_code == 202, started.text
    operation_id = started.json()["id"]
    assert started.headers["Location"] == f"{api_url}/v1/cells/{cell}/imports/{operation_id}"
    busy = native.post("/imports", json=request, headers={"Idempotency-Key": f"{run}-2"})
    assert native.get(f"/imports/{operation_id}").json()["state"] in ACTIVE, "the import ended within the checks"
    problem(busy, 409, "import-in-progress")
    repeated = native.post("/imports", json=request, headers={"Idempotency-Key": f"{run}-1"})
    assert repeated.status_code == 202 and repeated.json()["id"] == operation_id
    reused = native.post("/imports", json=request | {"name": "other"}, headers={"Idempotency-Key": f"{run}-1"})
    problem(reused, 422, "idempotency-key-reused")

    parent = finished(native, operation_id)
    counts = parent["counts"]
    assert parent["state"] == "done" and parent["percent"] == 100 and parent["name"] == "people"
    assert counts["completed"] + counts["error"] == counts["total"] == counts["users"] == 300
    assert counts["error"] == len(users.invalid)
    assert parent["finishedAt"] and parent["expiresAt"] and parent["heartbeatAt"]

    # The failed records, in pages of 3 through nextCursor: file and line of each.
    failed, page = [], {"nextCursor": None}
    while True:
        params = {"limit": "3"} | ({"cursor": page["nextCursor"]} if page["nextCursor"] else {})
        page = native.get(f"/imports/{operation_id}/errors", params=params).json()
        failed += page["items"]
        if not page.get("nextCursor"):
            break
    expected = [(f"user:{n}", f"people.jsonl:{n + 1}", users.username(n)) for n in sorted(users.invalid)]
    assert [(f["record"], f["source"], f["data"]["username"]) for f in failed] == expected
    assert {f["code"] for f in failed} == {"invalid-record"}

    # The same as CSV: a 303 to a presigned link, fetched without the API's credential.
    redirect = native.get(f"/imports/{operation_id}/errors", headers={"Accept": "text/csv"}, allow_redirects=False)
    assert redirect.status_code == 303, redirect.text
    download = requests.get(redirect.headers["Location"], timeout=HTTP_TIMEOUT)
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [(row["record"], row["source"], row["code"]) for row in rows] == [
        (r, s, "invalid-record") for r, s, _ in expected
    ]

    problem(native.post(f"/imports/{operation_id}/cancel"), 409, "not-cancelable")

    # A retry of the failed records only, three of them corrected; a correction of a record that
    # did not fail is refused first, naming it.
    refused = native.post(f"/imports/{operation_id}/retry", json={"corrections": {"user:5": {"username": "x"}}})
    assert any(error.startswith("user:5: ") for error in problem(refused, 422, "invalid-corrections")["errors"])
    corrections = {f["record"]: f["data"] | {"emails": [f"{f['data']['username']}@example.com"]} for f in failed[:3]}
    retried = native.post(f"/imports/{operation_id}/retry", json={"corrections": corrections})
    assert retried.status_code == 202, retried.text
    child = finished(native, retried.json()["id"])
    assert child["state"] == "done" and child["parentId"] == operation_id
    assert (child["counts"]["total"], child["counts"]["completed"], child["counts"]["error"]) == (4, 3, 1)
    assert counts["completed"] + child["counts"]["completed"] + child["counts"]["error"] == counts["total"]

    # The history, newest first, a page at a time; and by state.
    first = native.get("/imports", params={"limit": "1"}).json()
    second = native.get("/imports", params={"limit": "1", "cursor": first["nextCursor"]}).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [child["id"], operation_id]
    assert {view["id"] for view in native.get("/imports", params={"state": "done"}).json()["items"]} >= {
        child["id"],
        operation_id,
    }
    assert native.get("/imports", params={"state": "canceled"}).json()["items"] == []


def test_inline_records_import_as_an_upload_does(native, cell, run):
    users = Users(f"{run}-inline", 40, invalid=frozenset({0}))
    records = [{"type": "user", **user} for user in users.rocketchat()]
    started = native.post("/imports", json={"records": records})
    assert started.status_code == 202, started.text
    view = finished(native, started.json()["id"])
    assert view["state"] == "done" and view["cell"] == cell and view["name"] == "records.jsonl"
    assert (view["counts"]["total"], view["counts"]["completed"], view["counts"]["error"]) == (40, 39, 1)


def test_a_file_above_5_gib_gets_a_multipart_upload(native):
    upload = native.post("/uploads", json={"filename": "huge.jsonl", "size": 6 * 1024**3})
    assert upload.status_code == 200, upload.text
    body = upload.json()
    assert body["partSize"] == 192 * 1024**2 and "url" not in body
    assert [part["partNumber"] for part in body["parts"]] == list(range(1, 33))  # 6 GiB in 32 parts of 192 MiB
    assert all(part["url"].startswith("https://") or part["url"].startswith("http://") for part in body["parts"])
    unknown = native.post("/uploads/000000000000000000000000/complete", json={"etags": ['"0"']})
    problem(unknown, 404, "upload-not-found")


def test_problems_name_what_is_wrong(native):
    problem(native.get("/imports/000000000000000000000000"), 404, "operation-not-found")
    problem(native.get("/imports", params={"cursor": "not-a-cursor"}), 400, "invalid-cursor")
    invalid = problem(native.post("/imports", json={}), 422, "invalid-request")
    assert invalid["errors"]
    problem(native.post("/imports", data="{}", headers={"Content-Type": "text/plain"}), 415, "unsupported-media-type")


def test_a_preflight_needs_no_credential(api_url, cell):
    preflight = Http(api_url).options(
        f"/v1/cells/{cell}/imports",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert (preflight.status_code, preflight.content) == (204, b"")
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"

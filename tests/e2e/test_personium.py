"""Personium's cell import, as a Personium client calls it: a snapshot stored with
`PUT /{cell}/__snapshot/{name}.zip` and found with PROPFIND, imported with `POST /{cell}/__import`,
followed with `GET /{cell}/__import` until it is ready (writes to the cell refused meanwhile), then
read back with GET and deleted; the counts the import ended with, read through /v1."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.support.e2e import Http, Users, wait_for
from tests.support.personium_exports import CellExport

IN_PROGRESS = "importation in progress"


@pytest.fixture(scope="module")
def cell(cells) -> str:
    return cells.personium


@pytest.fixture(scope="module")
def personium(personium_for, cell) -> Http:
    return personium_for(cell)


def test_the_status_needs_the_cells_token_and_a_new_cell_is_ready(api_url, cell, personium):
    refused = Http(api_url).get(f"/{cell}/__import")
    assert refused.status_code == 401
    assert refused.json() == {
        "code": "PR401-AU-0001",
        "message": {"lang": "en", "value": "Authorization required."},
    }
    assert refused.headers["X-Personium-Version"]

    status = personium.get("/__import")
    assert status.status_code == 200 and status.json() == {"status": "ready"}
    assert status.headers["Content-Type"].startswith("application/json")


def test_a_snapshot_imports_to_done_with_exact_counts(api_url, cell, personium, native_for, run):
    users = Users(f"{run}-p", 300, invalid=frozenset(range(7, 300, 40)))
    snapshot = users.snapshot_zip()
    stored = personium.put("/__snapshot/users.zip", data=snapshot, headers={"Content-Type": "application/zip"})
    assert stored.status_code == 201, stored.text
    assert stored.headers["Location"] == f"{api_url}/{cell}/__snapshot/users.zip"

    listed = personium.request("PROPFIND", "/__snapshot", headers={"Depth": "1"})
    assert (listed.status_code, listed.headers["Content-Type"]) == (207, "application/xml")
    hrefs = [href.text for href in ET.fromstring(listed.content).iter("{DAV:}href")]
    assert hrefs == [f"{api_url}/{cell}/__snapshot", f"{api_url}/{cell}/__snapshot/users.zip"]

    started = personium.post("/__import", json={"Name": "users"})
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"{api_url}/{cell}/__import"

    # While it runs (300 users take far longer than these four calls), the cell refuses writes and
    # a second import, as Personium does.
    running = personium.get("/__import").json()
    second_snapshot = personium.put("/__snapshot/other.zip", data=b"PK", headers={"Content-Type": "application/zip"})
    second_import = personium.post("/__import", json={"Name": "users"})
    deleted_meanwhile = personium.request("DELETE", "/__snapshot/users.zip")
    assert personium.get("/__import").json()["status"] == IN_PROGRESS, "the import ended within the checks"
    assert running["status"] == IN_PROGRESS and running["importation_name"] == "users"
    assert re.fullmatch(r"\d{1,3}%", running["progress"]) and running["started_at"].endswith("Z")
    assert (second_snapshot.status_code, second_snapshot.json()["code"]) == (409, "PR409-CM-0002")
    assert (second_import.status_code, second_import.json()["code"]) == (409, "PR409-CM-0002")
    assert (deleted_meanwhile.status_code, deleted_meanwhile.json()["code"]) == (409, "PR409-CM-0002")

    final = wait_for(
        "the Personium import to end", lambda: (s := personium.get("/__import").json())["status"] != IN_PROGRESS and s
    )
    assert final == {"status": "ready"}

    # The same import, as /v1 shows it: every record counted once, the bad emails as errors.
    (view,) = native_for(cell).get("/imports").json()["items"]
    counts = view["counts"]
    assert view["state"] == "done" and view["name"] == "users" and view["percent"] == 100
    assert (counts["users"], counts["channels"], counts["messages"]) == (300, 1, 1)
    assert counts["completed"] + counts["error"] == counts["total"] == 302
    assert counts["error"] == len(users.invalid)

    # The snapshot is still there once the import ends: read it back, then delete it.
    as_bytes = personium.get("/__snapshot/users.zip", headers={"Accept": "application/zip"})
    assert (as_bytes.status_code, as_bytes.content) == (200, snapshot)
    assert as_bytes.headers["ETag"] == stored.headers["ETag"] and as_bytes.headers["Content-Type"] == "application/zip"
    # A client that accepts anything (curl's */*) is sent to S3 for the bytes, and follows.
    followed = personium.get("/__snapshot/users.zip", headers={"Accept": "*/*"})
    assert [step.status_code for step in followed.history] == [307] and followed.content == snapshot
    deleted = personium.request("DELETE", "/__snapshot/users.zip", headers={"If-Match": stored.headers["ETag"]})
    assert deleted.status_code == 204
    assert personium.get("/__snapshot/users.zip").status_code == 404


def test_a_cell_snapshot_personium_exported_imports_its_accounts_as_users(cell, personium, native_for):
    """Personium's own export of a cell: checked before the 202 as Personium checks it, then each
    account imported as a user of the cell (a name Rocket.Chat's rules refuse fails alone)."""
    accounts = [f"account{number}" for number in range(120)] + ["someone@example"]
    snapshot = CellExport(accounts=accounts).zip()
    zipped = {"Content-Type": "application/zip"}
    assert personium.put("/__snapshot/exported.zip", data=snapshot, headers=zipped).status_code == 201
    missing = CellExport(left_out={"10_odata/11_account.pjson"}).zip()
    assert personium.put("/__snapshot/broken.zip", data=missing, headers=zipped).status_code == 201
    refused = personium.post("/__import", json={"Name": "broken"})
    assert (refused.status_code, refused.json()["code"]) == (400, "PR400-MC-0001")

    started = personium.post("/__import", json={"Name": "exported"})
    assert started.status_code == 202, started.text
    final = wait_for(
        "the Personium import to end", lambda: (s := personium.get("/__import").json())["status"] != IN_PROGRESS and s
    )
    assert final == {"status": "ready"}

    view = native_for(cell).get("/imports").json()["items"][0]
    counts = view["counts"]
    assert view["state"] == "done" and view["name"] == "exported"
    assert (counts["users"], counts["total"], counts["completed"], counts["error"]) == (121, 121, 120, 1)
    (failed,) = native_for(cell).get(f"/imports/{view['id']}/errors").json()["items"]
    assert failed["source"] == "10_odata/11_account.pjson:121"


def test_a_bad_import_request_is_answered_as_personium_does(personium):
    missing_name = personium.post("/__import", json={})
    assert (missing_name.status_code, missing_name.json()["code"]) == (400, "PR400-CM-0001")
    no_snapshot = personium.post("/__import", json={"Name": "never-stored"})
    assert no_snapshot.status_code == 404
    assert (
        no_snapshot.json()["code"] == "PR404-DV-0001" and "never-stored.zip" in no_snapshot.json()["message"]["value"]
    )


def test_a_preflight_needs_no_token(api_url, cell):
    preflight = Http(api_url).options(
        f"/{cell}/__import",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert (preflight.status_code, preflight.content) == (200, b"")
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"].split(", ")
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"

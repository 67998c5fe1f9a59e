"""Rocket.Chat's API importer and its status routes, as a Rocket.Chat client calls them:
import.new, import.addUsers, import.run, then import.status until it is done, and import.clear;
getCurrentImportOperation and getLatestImportOperations show the same operation, getImportProgress its
importer, step and counts, and importers.list what an administrator can choose; and a Slack users CSV
and a Slack export through the administration page's calls (uploadImportFile, getImportFileData,
startImport); downloadPublicImportFile refuses the cloud's metadata address; downloadPendingFiles
answers the count left."""

from __future__ import annotations

import base64

from tests.support.e2e import Http, Users, wait_for
from tests.support.slack_exports import Export, channel, message, user
from tests.support.slack_users_csv import csv_row, users_csv

ACTIVE = ("loading", "importing")


def test_the_status_routes_need_a_login(api_url):
    for route in (
        "import.status",
        "getCurrentImportOperation",
        "getLatestImportOperations",
        "getImportProgress",
        "importers.list",
    ):
        refused = Http(api_url).get(f"/api/v1/{route}")
        assert refused.status_code == 401, route
        assert refused.json()["success"] is False and refused.json()["error"] == "You must be logged in to do this."


def test_an_api_import_runs_to_done_with_exact_counts(rocketchat, run):
    users = Users(f"{run}-rc", 300, invalid=frozenset({3, 150, 299}))
    new = rocketchat.post("/import.new")
    assert new.status_code == 200, new.text
    operation = new.json()["operation"]
    assert new.json()["success"] is True and operation["status"] == "importer_new"
    assert operation["count"]["total"] == 0

    for part in (range(200), range(200, 300)):
        added = rocketchat.post("/import.addUsers", json={"users": users.rocketchat(part)})
        assert added.json() == {"success": True}, added.text
    ready = rocketchat.get("/import.status").json()
    assert ready["state"] == "ready" and ready["operation"]["_id"] == operation["_id"]
    assert ready["operation"]["count"]["total"] == ready["operation"]["count"]["users"] == 300

    assert rocketchat.post("/import.run").json() == {"success": True}
    final = wait_for(
        "the Rocket.Chat import to end",
        lambda: (status := rocketchat.get("/import.status").json())["state"] not in ACTIVE and status,
    )
    count = final["operation"]["count"]
    assert final["state"] == "done" and final["operation"]["status"] == "importer_done"
    assert count["completed"] + count["error"] == count["total"] == 300
    assert count["error"] == len(users.invalid)

    current = rocketchat.get("/getCurrentImportOperation").json()
    assert current["success"] is True and current["operation"] == final["operation"]
    latest = rocketchat.get("/getLatestImportOperations").json()
    assert latest[0] == final["operation"]
    progress = rocketchat.get("/getImportProgress").json()
    assert progress == {
        "key": "api",
        "name": "API",
        "step": "importer_done",
        "count": {"completed": count["completed"], "total": count["total"], "error": count["error"]},
        "success": True,
    }

    too_late = rocketchat.post("/import.addUsers", json={"users": Users(f"{run}-late", 1).rocketchat()})
    assert too_late.json() == {"success": False, "error": "The current import operation is already finished."}

    assert rocketchat.post("/import.clear").json() == {"success": True}
    cleared = rocketchat.get("/import.status").json()
    assert cleared["operation"]["_id"] == operation["_id"] and cleared["operation"]["valid"] is False
    assert cleared["operation"]["count"] == count  # a clear after the end changes no count


def test_importers_list_offers_the_file_importers(rocketchat):
    listed = rocketchat.get("/importers.list")
    assert listed.status_code == 200 and {"key": "csv", "name": "CSV"} in listed.json()
    assert all(set(importer) == {"key", "name"} for importer in listed.json())


def uploaded(rocketchat, importer: str, name: str, content: bytes, content_type: str) -> dict:
    """uploadImportFile, then getImportFileData polled while it answers `waiting`: the selection."""
    body = {
        "binaryContent": base64.b64encode(content).decode(),
        "contentType": content_type,
        "fileName": name,
        "importerKey": importer,
    }
    assert rocketchat.post("/uploadImportFile", json=body).json() == {"success": True}
    return wait_for(
        "the file to be prepared",
        lambda: "waiting" not in (answer := rocketchat.get("/getImportFileData").json()) and answer,
    )


def test_a_slack_users_csv_through_the_administration_pages_calls(rocketchat, run):
    rows = [csv_row(f"{run}-sl{n}", f"{run}-sl{n}@example.com", "Member") for n in range(75)]
    selection = uploaded(rocketchat, "slack-users", "members.csv", users_csv(rows), "text/csv")
    assert len(selection["users"]) == 75 and selection["name"] == "Slack_Users"
    chosen = [user["user_id"] for user in selection["users"][:25]]
    assert rocketchat.post("/startImport", json={"input": {"users": {"list": chosen}}}).json() == {"success": True}
    progress = wait_for(
        "the import to end",
        lambda: (answer := rocketchat.get("/getImportProgress").json())["step"] == "importer_done" and answer,
    )
    assert progress["count"] == {"completed": 25, "total": 75, "error": 50}


def test_a_slack_export_through_the_administration_pages_calls(rocketchat, run):
    """Names of this run's own (the cell's directory keeps earlier runs' entries): its users, its
    channels and its direct conversation's id."""
    dm = "D" + run.replace("-", "").upper()
    export = Export(
        users=[user("U1", f"{run}-ann"), user("U2", f"{run}-bo", email="")],
        channels=[channel("C1", f"{run}-kept", "U1", ["U1", "U2"]), channel("C2", f"{run}-left", "U2", ["U2"])],
        dms=[{"id": dm, "created": 1600000000, "members": ["U1", "U2"]}],
    )
    export.days[f"{run}-kept/2020-09-13.json"] = [
        message(f"16000000{n:02d}.000100", "U1" if n % 2 else "U2", f"hello <@U2> {n}") for n in range(60)
    ]
    export.days[f"{run}-left/2020-09-13.json"] = [message("1600000000.000200", "U2", "not selected")]
    export.days[f"{dm}/2020-09-13.json"] = [message("1600000000.000300", "U2", "direct")]
    selection = uploaded(rocketchat, "slack", "export.zip", export.zip(), "application/zip")
    assert selection["name"] == "Slack" and selection["message_count"] == 62
    assert [c["channel_id"] for c in selection["channels"]] == ["C1", "C2", "__directMessages__"]
    chosen = {"users": {"all": True}, "channels": {"list": ["C1", "__directMessages__"]}}
    assert rocketchat.post("/startImport", json={"input": chosen}).json() == {"success": True}
    progress = wait_for(
        "the import to end",
        lambda: (answer := rocketchat.get("/getImportProgress").json())["step"] == "importer_done" and answer,
    )
    # 2 users, C1 and the DM, 61 of their messages; C2 and its message not selected.
    assert progress["count"] == {"completed": 65, "total": 67, "error": 2}


def test_download_pending_files_answers_the_count_left_and_its_operation_ends(rocketchat):
    """As Rocket.Chat's own end-to-end test asks it. (Not downloadPendingAvatars: every Slack export
    these tests import leaves avatars of a host that does not answer, and a failed avatar stays
    pending, as in Rocket.Chat, for every later run to try again.)"""
    answer = rocketchat.post("/downloadPendingFiles", json={})
    assert answer.status_code == 200 and answer.json()["success"] is True and answer.json()["count"] >= 0
    progress = wait_for(
        "the downloads to end",
        lambda: (answer := rocketchat.get("/getImportProgress").json())["step"] == "importer_done" and answer,
    )
    assert (progress["key"], progress["name"]) == ("pending-files", "Pending Files")
    assert progress["count"]["completed"] + progress["count"]["error"] == progress["count"]["total"]


def test_options_is_answered_without_a_login(api_url):
    answer = Http(api_url).options("/api/v1/import.new")
    assert (answer.status_code, answer.text) == (200, "OK")


def test_a_download_from_the_clouds_metadata_address_is_refused_and_its_operation_failed(rocketchat):
    body = {"fileUrl": "http://169.254.169.254/latest/meta-data/", "importerKey": "csv"}
    refused = rocketchat.post("/downloadPublicImportFile", json=body)
    assert (refused.status_code, refused.json()) == (400, {"success": False, "error": "error-ssrf-validation-failed"})
    progress = rocketchat.get("/getImportProgress").json()
    assert (progress["key"], progress["step"]) == ("csv", "importer_import_failed")

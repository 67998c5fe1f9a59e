"""Rocket.Chat's administration page's calls, in its order, through the local stack (the real
template and state machine): importers.list, uploadImportFile, getImportFileData polled while
`waiting`, startImport with a partial selection, getImportProgress until done, then import.status and
getLatestImportOperations; and the same with downloadPublicImportFile from a server on loopback,
allowlisted, and refused when it is not; then downloadPendingFiles of what a Slack export left."""

from __future__ import annotations

import base64

import boto3
import pytest
import requests

from bulk_import.dal.dynamodb.directory_items import directory_key
from bulk_import.settings import get_import_settings
from bulk_import_cli import demo
from tests.support.file_server import file_server
from tests.support.records import zipped
from tests.support.slack_exports import Export, channel, message, user
from tests.support.slack_users_csv import csv_row, users_csv
from tests.support.waiting import TIMEOUT, wait_until

RC = {"X-User-Id": demo.ROCKETCHAT_USER_ID, "X-Auth-Token": demo.ROCKETCHAT_AUTH_TOKEN}


def rc_get(stack, route: str) -> dict:
    answer = requests.get(f"{stack.api_url}/api/v1/{route}", headers=RC, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return answer.json()


def rc_post(stack, route: str, body=None) -> requests.Response:
    return requests.post(f"{stack.api_url}/api/v1/{route}", json=body, headers=RC, timeout=TIMEOUT)


def upload(stack, importer: str, name: str, content: bytes, content_type: str) -> None:
    body = {
        "binaryContent": base64.b64encode(content).decode(),
        "contentType": content_type,
        "fileName": name,
        "importerKey": importer,
    }
    answer = rc_post(stack, "uploadImportFile", body)
    assert answer.json() == {"success": True}, answer.text


def file_data(stack) -> dict:
    """getImportFileData, polled while it answers `waiting`, as the page polls it."""
    answers = []

    def ready():
        answers.append(rc_get(stack, "getImportFileData"))
        return "waiting" not in answers[-1]

    wait_until(ready)
    assert all(answer == {"waiting": True, "success": True} for answer in answers[:-1])
    return answers[-1]


def imported(stack, kind: str, name: str) -> bool:
    key = directory_key(stack.template.parameters["RocketChatCell"], kind, name)
    return "Item" in stack.store.client.get_item(
        TableName=stack.store.table_name, Key={k: {"S": v} for k, v in key.items()}
    )


def run_to_done(stack) -> dict:
    wait_until(lambda: rc_get(stack, "getImportProgress")["step"] in ("importer_done", "importer_import_failed"))
    return rc_get(stack, "getImportProgress")


def test_a_slack_users_csv_through_the_administration_pages_calls(local_stack):
    assert {"key": "slack-users", "name": "Slack_Users"} in rc_get(local_stack, "importers.list")
    rows = [csv_row(f"member{n}", f"member{n}@example.com", "Member", f"Member {n}") for n in range(120)]
    rows[0] = csv_row("boss", "boss@example.com", "Admin", "The Boss")
    rows[1] = csv_row("nomail", "", "Member")  # skipped, never counted
    upload(local_stack, "slack-users", "members.csv", users_csv(rows), "text/csv")

    selection = file_data(local_stack)
    assert selection["name"] == "Slack_Users" and selection["message_count"] == 0
    assert selection["channels"] == [] and selection["contacts"] == []
    assert len(selection["users"]) == 119
    assert selection["users"][0] == {
        "user_id": "boss@example.com",
        "username": "boss",
        "email": "boss@example.com",
        "is_deleted": False,
        "is_bot": False,
        "do_import": True,
        "is_email_taken": False,
    }
    assert rc_get(local_stack, "import.status")["state"] == "ready"
    assert rc_get(local_stack, "getImportProgress")["step"] == "importer_user_selection"

    chosen = [user["user_id"] for user in selection["users"][:50]]
    assert rc_post(local_stack, "startImport", {"input": {"users": {"list": chosen}}}).json() == {"success": True}
    progress = run_to_done(local_stack)
    assert progress == {
        "key": "slack-users",
        "name": "Slack_Users",
        "step": "importer_done",
        "count": {"completed": 50, "total": 119, "error": 69},
        "success": True,
    }
    assert chosen[-1] == "member50@example.com"  # the first 50 with an email: boss, member2 to member50
    assert imported(local_stack, "user", "boss") and imported(local_stack, "user", "member50")
    assert not imported(local_stack, "user", "member51")
    status = rc_get(local_stack, "import.status")
    assert status["state"] == "done" and status["operation"]["importerKey"] == "slack-users"
    assert status["operation"]["type"] == "Slack_Users"
    assert rc_get(local_stack, "getLatestImportOperations")[0] == status["operation"]


def test_a_csv_zip_with_every_user_and_one_channel_selected(local_stack):
    content = zipped(
        {
            "users.csv": b"username,email,name\nzed,zed@example.com,Zed\nyan,yan@example.com,Yan\n",
            "channels.csv": b"name,creator,private,members\nkept,zed,false,zed;yan\nleft,yan,true,yan\n",
            "kept/messages.csv": b"username,timestamp,text\nzed,1700000000000,hello\n",
            "left/messages.csv": b"username,timestamp,text\nyan,1700000000000,hidden\n",
        }
    )
    upload(local_stack, "csv", "export.zip", content, "application/zip")
    selection = file_data(local_stack)
    assert selection["message_count"] == 2
    assert [(c["channel_id"], c["is_private"]) for c in selection["channels"]] == [("kept", False), ("left", True)]

    body = {"input": {"users": {"all": True}, "channels": {"all": False, "list": ["kept"]}}}
    assert rc_post(local_stack, "startImport", body).json() == {"success": True}
    progress = run_to_done(local_stack)
    assert progress["step"] == "importer_done"
    assert progress["count"] == {"completed": 4, "total": 6, "error": 2}  # left and its message
    assert imported(local_stack, "channel", "kept") and not imported(local_stack, "channel", "left")


def test_a_slack_export_with_general_and_the_direct_messages_selected(local_stack):
    """Names of this test's own: the suite's other tests import into the same Rocket.Chat cell."""
    assert {"key": "slack", "name": "Slack"} in rc_get(local_stack, "importers.list")
    export = Export(
        users=[user("U1", "sx-alice"), user("U2", "sx-bob", email=""), user("U3", "sx-deploy", is_bot=True)],
        channels=[
            channel("C1", "sx-general", "U1", ["U1", "U2"], is_general=True),
            channel("C2", "sx-random", "U2", ["U2"]),
            channel("C3", "sx-nocreator", None, ["U1"]),  # dropped and not counted, as Rocket.Chat drops it
        ],
        groups=[channel("G1", "sx-secret", "U1", ["U1"])],
        dms=[{"id": "DSX1", "created": 1600000000, "members": ["U1", "U2"]}],
    )
    export.days["sx-general/2020-09-13.json"] = [
        message("1600000000.000100", "U1", "hello <@U2>"),
        message("1600000060.000100", "U2", "hi", thread_ts="1600000000.000100"),
        message("1600000120.000100", "U9", "nobody users.json knows"),
    ]
    export.days["sx-random/2020-09-13.json"] = [
        message("1600000000.000200", "U2", "a"),
        message("1600000001.0", "U2", "b"),
    ]
    export.days["sx-secret/2020-09-13.json"] = [message("1600000000.000300", "U1", "shh")]
    export.days["DSX1/2020-09-13.json"] = [message("1600000000.000400", "U2", "direct")]
    upload(local_stack, "slack", "slack-export.zip", export.zip(), "application/zip")

    selection = file_data(local_stack)
    assert selection["name"] == "Slack" and selection["message_count"] == 7
    assert [(u["user_id"], u["username"], u["email"], u["is_bot"]) for u in selection["users"]] == [
        ("U1", "sx-alice", "sx-alice@example.com", False),
        ("U2", "sx-bob", None, False),
        ("U3", "sx-deploy", "sx-deploy@example.com", True),
    ]
    assert [(c["channel_id"], c["name"], c["is_private"], c["is_direct"]) for c in selection["channels"]] == [
        ("C1", "sx-general", False, False),
        ("C2", "sx-random", False, False),
        ("G1", "sx-secret", True, False),
        ("__directMessages__", "Direct_Messages", True, True),
    ]

    body = {"input": {"users": {"all": True}, "channels": {"all": False, "list": ["C1", "__directMessages__"]}}}
    assert rc_post(local_stack, "startImport", body).json() == {"success": True}
    progress = run_to_done(local_stack)
    assert (progress["key"], progress["name"], progress["step"]) == ("slack", "Slack", "importer_done")
    # 3 users, general and D1, and their messages but the one whose author is unknown; the rest not selected.
    assert progress["count"] == {"completed": 8, "total": 14, "error": 6}
    assert imported(local_stack, "user", "sx-bob") and imported(local_stack, "channel", "sx-general")
    assert imported(local_stack, "channel", "dsx1") and not imported(local_stack, "channel", "sx-random")
    status = rc_get(local_stack, "import.status")
    counts = {key: status["operation"]["count"].get(key) for key in ("users", "channels", "messages", "total")}
    assert status["state"] == "done" and counts == {"users": 3, "channels": 4, "messages": 7, "total": 14}


@pytest.fixture
def served(local_stack, monkeypatch):
    """A file server on loopback, allowlisted (SSRF_Allowlist) for the functions while the test runs."""
    with file_server() as server, monkeypatch.context() as allowing:
        allowing.setenv("SSRF_ALLOWLIST", "127.0.0.1")
        reconfigure(local_stack)
        yield server
    reconfigure(local_stack)


def reconfigure(stack) -> None:
    """Functions read their settings once per environment: the next invocations start afresh."""
    get_import_settings.cache_clear()
    stack.host.discard_environments()


def test_a_csv_zip_downloaded_from_an_allowlisted_server_through_the_administration_pages_calls(local_stack, served):
    served.files["export.zip"] = zipped(
        {
            "users.csv": b"username,email,name\nann,ann@example.com,Ann\nbob,bob@example.com,Bob\n",
            "channels.csv": b"name,creator,private,members\nfetched,ann,false,ann;bob\n",
            "fetched/messages.csv": b"username,timestamp,text\nann,1700000000000,hi\nbob,1700000000001,yo\n",
        }
    )
    assert {"key": "csv", "name": "CSV"} in rc_get(local_stack, "importers.list")
    body = {"fileUrl": f"{served.url}/files/export.zip", "importerKey": "csv"}
    answer = rc_post(local_stack, "downloadPublicImportFile", body)
    assert (answer.status_code, answer.json()) == (200, {"success": True})

    selection = file_data(local_stack)
    assert [user["username"] for user in selection["users"]] == ["ann", "bob"]
    assert selection["message_count"] == 2 and len(served.requests) == 2  # the route's, the worker's
    assert rc_get(local_stack, "getImportProgress")["step"] == "importer_user_selection"
    chosen = {"input": {"users": {"list": [selection["users"][0]["user_id"]]}, "channels": {"all": True}}}
    assert rc_post(local_stack, "startImport", chosen).json() == {"success": True}
    progress = run_to_done(local_stack)
    assert progress == {
        "key": "csv",
        "name": "CSV",
        "step": "importer_done",
        "count": {"completed": 4, "total": 5, "error": 1},  # bob not selected
        "success": True,
    }
    assert imported(local_stack, "user", "ann") and not imported(local_stack, "user", "bob")
    status = rc_get(local_stack, "import.status")
    assert status["state"] == "done" and status["operation"]["file"].endswith(f"_{demo.ROCKETCHAT_USER_ID}_export.zip")
    assert rc_get(local_stack, "getLatestImportOperations")[0] == status["operation"]


def test_a_private_server_not_allowlisted_is_refused_and_the_operation_failed(local_stack):
    with file_server() as server:
        body = {"fileUrl": f"{server.url}/files/export.zip", "importerKey": "slack-users"}
        answer = rc_post(local_stack, "downloadPublicImportFile", body)
        assert (answer.status_code, answer.json()) == (400, {"success": False, "error": "error-ssrf-validation-failed"})
        assert server.requests == []
    assert rc_get(local_stack, "getImportProgress")["step"] == "importer_import_failed"
    assert rc_get(local_stack, "import.status")["state"] == "error"


def test_a_file_gone_when_the_worker_downloads_it_fails_the_import_with_the_reason(local_stack, served):
    served.files["export.zip"] = zipped({"users.csv": b"username,email,name\nann,ann@example.com,Ann\n"})
    served.once.add("export.zip")  # the route's request gets it, the worker's a 404
    body = {"fileUrl": f"{served.url}/files/export.zip", "importerKey": "csv"}
    assert rc_post(local_stack, "downloadPublicImportFile", body).json() == {"success": True}
    assert run_to_done(local_stack)["step"] == "importer_import_failed"
    failed = local_stack.store.latest_operation(local_stack.template.parameters["RocketChatCell"])
    assert failed.failure.message == "The input file could not be downloaded: Unexpected response status 404"
    assert len(served.requests) >= 2  # the route's, then the worker's attempts


def test_the_files_a_slack_export_left_are_downloaded_by_download_pending_files(local_stack, served):
    """Names of this test's own: the suite's other tests import into the same Rocket.Chat cell."""
    served.files["plan.pdf"] = b"%PDF plan"
    export = Export(users=[user("U1", "pf-ann")], channels=[channel("C1", "pf-general", "U1", ["U1"])])
    shared = [
        {"id": "F1", "name": "plan.pdf", "size": 9, "url_private_download": f"{served.url}/files/plan.pdf"},
        {"id": "F2", "name": "gone.pdf", "size": 9, "url_private_download": f"{served.url}/files/gone.pdf"},
    ]
    export.days["pf-general/2020-09-13.json"] = [message("1600000000.000500", "U1", "the plan", files=shared)]
    upload(local_stack, "slack", "slack-export.zip", export.zip(), "application/zip")
    file_data(local_stack)
    everything = {"input": {"users": {"all": True}, "channels": {"all": True}}}
    assert rc_post(local_stack, "startImport", everything).json() == {"success": True}
    assert run_to_done(local_stack)["step"] == "importer_done"

    answer = rc_post(local_stack, "downloadPendingFiles", {})
    assert (answer.status_code, answer.json()) == (200, {"count": 2, "success": True})
    progress = run_to_done(local_stack)
    assert progress == {
        "key": "pending-files",
        "name": "Pending Files",
        "step": "importer_done",
        "count": {"completed": 1, "total": 2, "error": 1},  # gone.pdf answers 404
        "success": True,
    }
    s3, (bucket,) = boto3.client("s3"), local_stack.template.buckets()
    cell = local_stack.template.parameters["RocketChatCell"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"files/{cell}/message/")["Contents"]
    assert [item["Key"].rpartition("/")[2] for item in listed] == ["plan.pdf"]
    assert s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read() == b"%PDF plan"
    assert rc_post(local_stack, "downloadPendingFiles", {}).json() == {"count": 1, "success": True}  # gone.pdf
    assert run_to_done(local_stack)["count"] == {"completed": 0, "total": 1, "error": 1}

"""Rocket.Chat's downloadPublicImportFile on moto, with a real HTTP server on loopback: the route's
answers in Rocket.Chat's shapes (a refused target, a failed request, a path, an unknown importer, a
bad body), the operation each leaves, and the worker's download into the bucket (in one object or in
parts, a failure midway, two deliveries at once, a stop meanwhile)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from bulk_import.dal.public_urls import Allowlist, PublicDownloads, ResponseTooLarge
from bulk_import.dal.s3 import StoredObjectMissing
from bulk_import.domain.importers import IMPORTERS
from bulk_import.domain.operation import ProgressStep
from bulk_import.logic.imports.launch import new_operation, replace_latest
from bulk_import.logic.imports.stop import cancel
from bulk_import.logic.worker import download
from bulk_import.logic.worker.download import download_input
from bulk_import.logic.worker.phase import failure_of
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.steps import OperationStopped
from bulk_import.settings import get_import_settings
from bulk_import_cli import demo
from tests.support.events import load_event
from tests.support.file_server import file_server
from tests.support.slack_users_csv import csv_row, users_csv
from tests.support.worker import CELL, RecordedExecutions

ROWS = [csv_row(f"fetched{n}", f"fetched{n}@example.com", "Member") for n in range(60)]
REFUSED = "RocketChatImportFunction/download-public-import-file-refused.json"


@pytest.fixture
def server():
    with file_server() as served:
        served.files["people.csv"] = users_csv(ROWS)
        yield served


@pytest.fixture
def allowlist(monkeypatch):
    """Sets Rocket.Chat's SSRF_Allowlist for the functions."""

    def allow(setting: str) -> None:
        monkeypatch.setenv("SSRF_ALLOWLIST", setting)
        get_import_settings.cache_clear()

    yield allow
    get_import_settings.cache_clear()


@pytest.fixture
def rocketchat_cell(store, function_environment) -> str:
    cell = function_environment["ROCKETCHAT_CELL"]
    demo.seed_demo(store, cell)
    return cell


def download_request(invoke, body: dict):
    event = load_event(REFUSED)
    event["body"] = json.dumps(body)
    return invoke("RocketChatImportFunction", event)


def progress(invoke) -> dict:
    return invoke("RocketChatStatusFunction", load_event("RocketChatStatusFunction/get-import-progress.json")).body


def test_a_file_of_an_allowlisted_server_is_downloaded_by_the_worker_then_prepared(
    server, allowlist, rocketchat_cell, invoke, store, files
):
    allowlist("127.0.0.1")
    answer = download_request(invoke, {"fileUrl": f"{server.url}/files/people.csv?sig=1", "importerKey": "slack-users"})
    assert (answer.status, answer.body) == (200, {"success": True})
    operation = store.latest_operation(rocketchat_cell)
    assert (operation.step, operation.importer_key, operation.type) == (
        ProgressStep.DOWNLOADING_FILE,
        "slack-users",
        "Slack_Users",
    )
    assert operation.source_url == f"{server.url}/files/people.csv?sig=1" and operation.source_key is None
    assert operation.importation_name.endswith(f"_{demo.ROCKETCHAT_USER_ID}_people.csv")  # the query left out
    assert progress(invoke)["step"] == "importer_downloading_file"
    assert server.requests == ["/files/people.csv?sig=1"]  # the route's request: its body left unread

    staged = invoke_stage(invoke, operation)
    assert staged["awaitsSelection"] is True
    prepared = store.latest_operation(rocketchat_cell)
    assert prepared.step == ProgressStep.USER_SELECTION and prepared.count.users == 60
    assert prepared.source_key.startswith(f"uploads/{rocketchat_cell}/")
    assert prepared.source_key.endswith(operation.importation_name)
    assert files.client.get_object(Bucket=files.bucket, Key=prepared.source_key)["Body"].read() == users_csv(ROWS)
    assert len(server.requests) == 2


def invoke_stage(invoke, operation) -> dict:
    from tests.support.stack import FUNCTIONS

    return FUNCTIONS.invoke(
        "ImportStageFunction", {"operation": {"cell": operation.cell, "id": operation.id}, "execution": None}
    )


def test_a_private_target_not_allowlisted_is_refused_and_its_operation_failed(
    server, allowlist, rocketchat_cell, invoke, store
):
    allowlist(f"files.example.com, 127.0.0.1:{server.server_address[1] + 1}")  # another port only
    answer = download_request(invoke, {"fileUrl": f"{server.url}/files/people.csv", "importerKey": "csv"})
    assert (answer.status, answer.body) == (400, {"success": False, "error": "error-ssrf-validation-failed"})
    assert server.requests == []  # nothing reached it
    assert progress(invoke)["step"] == "importer_import_failed"
    failed = store.latest_operation(rocketchat_cell)
    assert failed.failure.message == "The input file could not be downloaded: error-ssrf-validation-failed"
    assert failed.finished_at is not None and not failed.is_active


def test_the_cloud_metadata_address_is_refused_without_a_request(rocketchat_cell, invoke):
    answer = invoke("RocketChatImportFunction", load_event(REFUSED))
    assert (answer.status, answer.body) == (400, {"success": False, "error": "error-ssrf-validation-failed"})
    assert progress(invoke)["step"] == "importer_import_failed"


def test_a_status_other_than_2xx_is_refused_in_rocket_chats_words(server, allowlist, rocketchat_cell, invoke, store):
    allowlist("127.0.0.1")
    answer = download_request(invoke, {"fileUrl": f"{server.url}/files/gone.zip", "importerKey": "csv"})
    assert (answer.status, answer.body) == (400, {"success": False, "error": "Unexpected response status 404"})
    assert store.latest_operation(rocketchat_cell).step == ProgressStep.IMPORT_FAILED


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"fileUrl": "/srv/exports/slack.zip", "importerKey": "slack"},
            {
                "success": False,
                "error": "/srv/exports/slack.zip [error-import-file-missing]",
                "errorType": "error-import-file-missing",
                "details": "downloadPublicImportFile",
            },
        ),
        (
            {"fileUrl": "https://files.example.com/a.zip", "importerKey": "png"},
            {
                "success": False,
                "error": "The importer (png) has no import class defined. [error-importer-not-defined]",
                "errorType": "error-importer-not-defined",
                "details": "downloadImportFile",
            },
        ),
        (
            {"fileUrl": "https://files.example.com/a.zip", "importerKey": "api"},
            {
                "success": False,
                "error": "The importer (api) has no import class defined. [error-importer-not-defined]",
                "errorType": "error-importer-not-defined",
                "details": "downloadImportFile",
            },
        ),
        (
            {"fileUrl": "https://files.example.com/" + "a" * 8200, "importerKey": "csv"},
            {"success": False, "error": "The file URL is longer than 8192 characters."},
        ),
        (
            {"fileUrl": "https://files.example.com/a.zip"},
            {"success": False, "error": "must have required property 'importerKey'", "errorType": "invalid-params"},
        ),
        (
            {"fileUrl": "https://files.example.com/a.zip", "importerKey": "csv", "name": "a"},
            {"success": False, "error": "must NOT have additional properties", "errorType": "invalid-params"},
        ),
    ],
    ids=[
        "a-path",
        "an-unknown-importer",
        "the-api-importer",
        "a-url-too-long",
        "no-importer",
        "a-property-more",
    ],
)
def test_what_is_refused_before_any_operation_is_made(rocketchat_cell, invoke, store, body, error):
    before = store.latest_operation(rocketchat_cell)
    answer = download_request(invoke, body)
    assert (answer.status, answer.body) == (400, error)
    assert store.latest_operation(rocketchat_cell) == before


# -- the worker's download ---------------------------------------------------------------------------


def downloading(store, url: str):
    """A new operation of the csv importer that downloads `url`, as the route records it."""
    operation = new_operation(
        CELL,
        "u1",
        "csv",
        ProgressStep.DOWNLOADING_FILE,
        type_name="CSV",
        importation_name="1_u1_export.zip",
        source_url=url,
    )
    return replace_latest(store, operation, None)


def loopback(max_bytes: int = 1 << 30) -> PublicDownloads:
    return PublicDownloads(Allowlist.parse("127.0.0.1"), max_bytes, seconds_left=lambda: 60.0)


def uploads(files) -> list[str]:
    listed = files.client.list_objects_v2(Bucket=files.bucket, Prefix="uploads/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_file_over_the_multipart_threshold_is_stored_in_parts(server, store, files, monkeypatch):
    content = os.urandom(9 * 1024 * 1024 + 5)
    server.files["export.zip"] = content
    parts = []
    uploading = files.client.upload_part
    monkeypatch.setattr(files.client, "upload_part", lambda **kw: parts.append(kw["PartNumber"]) or uploading(**kw))
    operation = downloading(store, f"{server.url}/files/export.zip")

    loaded = download_input(store, files, operation, loopback(), None)

    assert loaded.step == ProgressStep.FILE_LOADED and sorted(parts) == [1, 2]  # sent at once
    stored = files.client.get_object(Bucket=files.bucket, Key=loaded.source_key)
    assert stored["Body"].read() == content and stored["ETag"] == loaded.source_etag
    assert store.latest_operation(CELL) == loaded


def test_a_download_that_fails_midway_leaves_no_object_and_no_parts(server, store, files):
    operation = downloading(store, f"{server.url}/stream/{20 * 1024 * 1024}")
    with pytest.raises(ResponseTooLarge) as refused:
        download_input(store, files, operation, loopback(max_bytes=10 * 1024 * 1024), None)
    assert uploads(files) == []
    assert files.client.list_multipart_uploads(Bucket=files.bucket).get("Uploads", []) == []
    assert store.latest_operation(CELL).step == ProgressStep.DOWNLOADING_FILE  # the state machine fails it:
    cause = json.dumps({"errorMessage": str(refused.value), "errorType": "ResponseTooLarge"})
    assert failure_of({"Error": "ResponseTooLarge", "Cause": cause}).message == (
        f"The input file could not be downloaded: content size over limit: {10 * 1024 * 1024}"
    )


def test_a_second_delivery_finds_the_first_ones_download_recorded(server, store, files):
    server.files["export.zip"] = b"PK\x05\x06" + bytes(18)
    operation = downloading(store, f"{server.url}/files/export.zip")
    first = download_input(store, files, operation, loopback(), None)
    second = download_input(store, files, operation, loopback(), None)  # read before the first recorded
    assert second == first == store.latest_operation(CELL)
    assert len(uploads(files)) == 2  # the second's copy is left to expire with the uploads


def test_a_download_stops_once_its_operation_is_canceled(server, store, files, monkeypatch):
    server.files["export.zip"] = os.urandom(300_000)
    operation = downloading(store, f"{server.url}/files/export.zip")
    cancel(store, RecordedExecutions(), operation)
    monkeypatch.setattr(download, "HEARTBEAT_SECONDS", 0.0)
    with pytest.raises(OperationStopped):
        download_input(store, files, operation, loopback(), None)
    assert uploads(files) == []


def test_a_downloads_heartbeats_record_its_execution(server, store, files, monkeypatch):
    """The sweeper starts again an operation that has gone minutes without its execution recorded:
    a long download's heartbeats record it, as staging's writes do."""
    server.files["export.zip"] = os.urandom(300_000)
    operation = downloading(store, f"{server.url}/files/export.zip")
    monkeypatch.setattr(download, "HEARTBEAT_SECONDS", 0.0)
    written = []
    updating = store.update_operation
    monkeypatch.setattr(
        store, "update_operation", lambda *args, **kw: written.append(updating(*args, **kw)) or written[-1]
    )
    execution = "arn:aws:states:us-east-1:123456789012:execution:import:" + operation.id
    download_input(store, files, operation, loopback(), execution)
    assert written[0].step == ProgressStep.DOWNLOADING_FILE and written[0].execution_arn == execution
    assert written[-1].step == ProgressStep.FILE_LOADED and written[-1].execution_arn == execution


def test_staging_downloads_first_then_stages_what_it_downloaded(server, store, files):
    server.files["people.csv"] = users_csv(ROWS[:7])
    operation = replace_latest(
        store,
        new_operation(
            CELL,
            "u1",
            "slack-users",
            ProgressStep.DOWNLOADING_FILE,
            type_name=IMPORTERS["slack-users"].name,
            importation_name="1_u1_people.csv",
            source_url=f"{server.url}/files/people.csv",
        ),
        None,
    )
    task = stage_input(
        store,
        files,
        CELL,
        operation.id,
        out_of_time=lambda: False,
        concurrency=1,
        reconcile_after=timedelta(0),
        downloads=loopback(),
    )
    assert task["staged"] is True and task["awaitsSelection"] is True
    assert store.latest_operation(CELL).count.users == 7


def test_an_object_the_transfer_manager_did_not_write_is_not_recorded(server, store, files, monkeypatch):
    server.files["export.zip"] = b"PK\x05\x06" + bytes(18)
    operation = downloading(store, f"{server.url}/files/export.zip")
    monkeypatch.setattr(files.client, "upload_fileobj", lambda *args, **kwargs: None)
    with pytest.raises(StoredObjectMissing):
        download_input(store, files, operation, loopback(), None)
    assert store.latest_operation(CELL) == operation


def test_a_long_file_name_is_kept_to_its_last_255_characters(rocketchat_cell, invoke, store):
    long_name = "x" * 300 + ".zip"
    download_request(invoke, {"fileUrl": f"http://169.254.169.254/{long_name}?a=b", "importerKey": "csv"})
    stored = store.latest_operation(rocketchat_cell).importation_name
    assert stored.endswith(f"_{demo.ROCKETCHAT_USER_ID}_" + long_name[-255:])

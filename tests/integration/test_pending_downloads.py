"""Rocket.Chat's downloadPendingFiles and downloadPendingAvatars on moto, with a real HTTP server on
loopback: an import leaves its messages' files and its users' avatars to download (the
PendingDownloads index), the route counts them and starts a new operation, and the worker stages
them from the index and downloads them in batches, each counted once: downloaded, failed, skipped
as Rocket.Chat skips them, repeated by a duplicate delivery, or cut short by a stop."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bulk_import.dal.dynamodb.directory_items import PENDING_SHARDS
from bulk_import.dal.public_urls import Allowlist, PublicDownloads
from bulk_import.domain.importers import IMPORTERS
from bulk_import.domain.operation import ProgressStep
from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.imports.rocketchat_files import download_pending
from bulk_import.logic.imports.stop import cancel
from bulk_import.logic.worker.batch import import_batch
from bulk_import.logic.worker.pending_downloads import FailedAvatar, download_records
from bulk_import.logic.worker.settle import reconcile_stopped
from bulk_import.logic.worker.stage import stage_input
from bulk_import.logic.worker.steps import OperationStopped
from tests.support.events import load_event
from tests.support.file_server import file_server
from tests.support.records import user
from tests.support.worker import CELL, RecordedExecutions, failed_records, import_done, run_worker, stage_all

PENDING_FILES, PENDING_AVATARS = IMPORTERS["pending-files"], IMPORTERS["pending-avatars"]


@pytest.fixture
def server():
    with file_server() as served:
        served.files["report.pdf"] = b"%PDF-1.7 report"
        served.files["photo.png"] = b"\x89PNG photo"
        served.files["face.png"] = b"\x89PNG face"
        yield served


def loopback() -> PublicDownloads:
    return PublicDownloads(Allowlist.parse("127.0.0.1"), 1024 * 1024, seconds_left=lambda: 30.0)


def message(number: int, files: list[dict]) -> dict:
    return {
        "type": "message",
        "channel": "general",
        "username": "user0",
        "timestamp": 1700000000000 + number,
        "text": f"message {number}",
        "files": files,
    }


def file(url: str, name: str) -> dict:
    return {"url_private_download": url, "id": name, "name": name, "size": 10}


def imported_with_files(store, files, executions, url: str) -> None:
    """An import that leaves 5 files (one of them a 404, one with no http URL) and 2 avatars (one a 404)."""
    import_done(
        store,
        files,
        executions,
        [
            {"type": "user", **user(0, avatarUrl=f"{url}/files/face.png")},
            {"type": "user", **user(1, avatarUrl=f"{url}/files/gone.png")},
            {"type": "user", **user(2)},
            {"type": "channel", "name": "general", "creator": "user0", "members": ["user0"]},
            message(1, [file(f"{url}/files/report.pdf", "report.pdf"), file(f"{url}/files/photo.png", "photo.png")]),
            message(2, [file(f"{url}/files/gone.pdf", "gone.pdf")]),
            message(3, [file("slack-internal:F3", "internal.txt"), file(f"{url}/files/report.pdf", "copy.pdf")]),
            message(4, []),
        ],
    )


def staged_pending_files(server, store, files, executions):
    """downloadPendingFiles of what imported_with_files left, staged: its operation."""
    imported_with_files(store, files, executions, server.url)
    download_pending(store, executions, CELL, "u1", PENDING_FILES)
    operation = store.latest_operation(CELL)
    stage_all(store, files, operation.id)
    return operation


def stored_objects(files, prefix: str = "files/") -> dict[str, bytes]:
    listed = files.client.list_objects_v2(Bucket=files.bucket, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: files.client.get_object(Bucket=files.bucket, Key=item["Key"])["Body"].read() for item in listed
    }


def test_an_import_leaves_its_files_and_avatars_to_download_and_the_route_counts_them(server, store, files, executions):
    imported_with_files(store, files, executions, server.url)
    assert store.count_pending_downloads(CELL, "message") == 5
    assert store.count_pending_downloads(CELL, "user") == 2
    count = download_pending(store, executions, CELL, "u1", PENDING_FILES)
    operation = store.latest_operation(CELL)
    assert count == 5
    assert (operation.importer_key, operation.type, operation.step) == (
        "pending-files",
        "Pending Files",
        ProgressStep.PREPARING_STARTED,
    )
    assert executions.started[-1] == (CELL, operation.id)


def test_pending_files_are_downloaded_into_the_bucket_and_counted_as_rocket_chat_counts_them(
    server, store, files, executions
):
    imported_with_files(store, files, executions, server.url)
    download_pending(store, executions, CELL, "u1", PENDING_FILES)
    operation = store.latest_operation(CELL)
    run_worker(store, files, operation.id, downloads=loopback())
    done = store.latest_operation(CELL)
    # 3 downloaded, 1 without an http URL (completed, not fetched), 1 answered 404 (an error).
    assert done.step == ProgressStep.DONE
    assert (done.count.messages, done.count.total, done.count.completed, done.count.error) == (5, 5, 4, 1)
    assert sorted(stored_objects(files).values()) == [b"%PDF-1.7 report", b"%PDF-1.7 report", b"\x89PNG photo"]
    (failed,) = failed_records(store, operation.id)
    assert failed.error_code == "download-failed"
    assert failed.error == "The file could not be downloaded: Unexpected response status 404"
    # What is left to download: the 404 and the file without an http URL, as Rocket.Chat leaves them.
    assert store.count_pending_downloads(CELL, "message") == 2
    assert download_pending(store, executions, CELL, "u1", PENDING_FILES) == 2


def test_a_failed_avatar_counts_as_completed_stays_pending_and_is_reported_as_rocket_chat_does(
    server, store, files, executions
):
    imported_with_files(store, files, executions, server.url)
    assert download_pending(store, executions, CELL, "u1", PENDING_AVATARS) == 2
    operation = store.latest_operation(CELL)
    stage_all(store, files, operation.id)
    failed: list[FailedAvatar] = []
    assert import_batch(store, files, CELL, operation.id, RecordType.USER, 0, loopback(), failed)["completed"] == 2
    counted = store.latest_operation(CELL)
    assert (counted.count.users, counted.count.total, counted.count.completed, counted.count.error) == (2, 2, 2, 0)
    assert failed == [FailedAvatar("user1", "The file could not be downloaded: Unexpected response status 404")]
    assert list(stored_objects(files).values()) == [b"\x89PNG face"]
    assert store.count_pending_downloads(CELL, "user") == 1


def test_with_nothing_to_download_the_operation_is_done_at_once_and_no_worker_runs(store, files, executions):
    import_done(store, files, executions, [{"type": "user", **user(0)}])
    started = len(executions.started)
    assert download_pending(store, executions, CELL, "u1", PENDING_FILES) == 0
    operation = store.latest_operation(CELL)
    assert (operation.importer_key, operation.step, operation.count.total) == ("pending-files", ProgressStep.DONE, 0)
    assert len(executions.started) == started


def test_a_new_operation_clears_the_import_that_runs(server, store, files, executions):
    imported_with_files(store, files, executions, server.url)
    download_pending(store, executions, CELL, "u1", PENDING_FILES)
    first = store.latest_operation(CELL)
    download_pending(store, executions, CELL, "u1", PENDING_AVATARS)
    assert store.operation(CELL, first.id).valid is False  # Import.newOperation clears the current one
    assert store.latest_operation(CELL).importer_key == "pending-avatars"


def test_staging_walks_every_partition_of_the_index_and_resumes_where_it_stopped(server, store, files, executions):
    import_done(
        store,
        files,
        executions,
        [
            {"type": "user", **user(0)},
            {"type": "channel", "name": "general", "creator": "user0", "members": ["user0"]},
            *(message(n, [file(f"{server.url}/files/report.pdf", f"r{n}.pdf")]) for n in range(40)),
        ],
    )
    download_pending(store, executions, CELL, "u1", PENDING_FILES)
    operation = store.latest_operation(CELL)
    rounds = 0
    task = {"staged": False}
    while not task["staged"]:  # out of time after every page: the cursor carries the walk on
        task = stage_input(
            store, files, CELL, operation.id, out_of_time=lambda: True, concurrency=1, reconcile_after=timedelta(0)
        )
        rounds += 1
    staged = store.latest_operation(CELL)
    assert (staged.step, staged.count.messages, staged.count.total) == (ProgressStep.IMPORTING_FILES, 40, 40)
    assert rounds >= PENDING_SHARDS  # a page per partition at least
    records = [record for index in range(1) for record in files.read_staged_object(operation.id, "message", index)]
    assert len({(record.data["identity"], record.data["download"]) for record in records}) == 40


def test_a_batch_delivered_twice_downloads_and_counts_each_file_once(server, store, files, executions):
    operation = staged_pending_files(server, store, files, executions)
    requests_before = len(server.requests)
    first = import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())
    second = import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())
    assert first == second == {"type": "message", "batch": 0, "completed": 4, "error": 1}
    assert len(server.requests) - requests_before == 4  # the second delivery fetched nothing
    assert store.latest_operation(CELL).count.processed == 5


def test_downloads_recorded_by_an_attempt_that_died_before_counting_are_counted_once_as_completed(
    server, store, files, executions, monkeypatch
):
    operation = staged_pending_files(server, store, files, executions)
    counting = store.count_batch

    def died(*args, **kwargs):
        raise RuntimeError("the attempt died after its downloads were recorded")

    monkeypatch.setattr(store, "count_batch", died)
    with pytest.raises(RuntimeError):
        import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())
    monkeypatch.setattr(store, "count_batch", counting)
    assert import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())["completed"] == 4


def test_after_a_stop_what_was_downloaded_counts_as_completed_and_the_rest_stays_to_download(
    server, store, files, executions, monkeypatch
):
    operation = staged_pending_files(server, store, files, executions)
    monkeypatch.setattr(store, "count_batch", lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())
    monkeypatch.undo()
    cancel(store, RecordedExecutions(), store.latest_operation(CELL))
    reconcile_stopped(store, files, store.operation(CELL, operation.id), concurrency=1)
    settled = store.operation(CELL, operation.id)
    # The 3 files downloaded count as completed; the other 2 were never downloaded by it: errors.
    assert (settled.count.completed, settled.count.error, settled.count.total) == (3, 2, 5)
    assert store.count_pending_downloads(CELL, "message") == 2


def test_a_download_the_marker_counts_as_not_made_is_put_back_to_download(server, store, files, executions):
    """An attempt that raced the one that counted recorded downloads after the marker counted none."""
    operation = staged_pending_files(server, store, files, executions)
    cancel(store, RecordedExecutions(), store.latest_operation(CELL))
    with pytest.raises(OperationStopped):  # ended early: it counts what landed (nothing yet), then stops
        import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())
    download_records(store, files, loopback(), operation, files.read_staged_batch(operation.id, "message", 0))
    assert store.count_pending_downloads(CELL, "message") == 2  # the racing attempt's 3 recorded
    with pytest.raises(OperationStopped):  # a repeat: the batch is counted, what it counts as not made is undone
        import_batch(store, files, CELL, operation.id, RecordType.MESSAGE, 0, loopback())
    assert store.count_pending_downloads(CELL, "message") == 5


def test_the_routes_answer_the_count_and_refuse_any_property(store, invoke, function_environment):
    from bulk_import_cli import demo

    demo.seed_demo(store, function_environment["ROCKETCHAT_CELL"])
    for name in ("download-pending-files", "download-pending-avatars"):
        event = load_event(f"RocketChatImportFunction/{name}.json")
        assert invoke("RocketChatImportFunction", event).body == {"count": 0, "success": True}
        event["body"] = json.dumps({"importerKey": "pending-files"})
        refused = invoke("RocketChatImportFunction", event)
        assert (refused.status, refused.body) == (
            400,
            {"success": False, "error": "must NOT have additional properties", "errorType": "invalid-params"},
        )
    progress = invoke("RocketChatStatusFunction", load_event("RocketChatStatusFunction/get-import-progress.json"))
    assert {key: progress.body[key] for key in ("key", "name", "step")} == {
        "key": "pending-avatars",
        "name": "Pending Avatars",
        "step": "importer_done",
    }
    file_data = invoke("RocketChatStatusFunction", load_event("RocketChatStatusFunction/get-import-file-data.json"))
    assert file_data.body == {
        "name": "Pending Avatars",
        "users": [],
        "channels": [],
        "contacts": [],
        "message_count": 0,
        "success": True,
    }

"""The native /v1 API through its handlers on moto: pages and cursors, the idempotent start, the
CSV download, one request per read, the import events and the sweeper."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import pytest

from bulk_import.dal.dynamodb.operation_items import latest_operation_key, operation_to_item
from bulk_import.dal.dynamodb.table import marshal
from bulk_import.dal.s3 import default_files
from bulk_import.domain.credentials import ApiPermission
from bulk_import.domain.operation import ProgressStep, utc_now
from bulk_import.logic.admin import create_api_credential
from bulk_import.logic.imports.start import start_records_import
from tests.support.events import api_event, capture_bus_events
from tests.support.records import users
from tests.support.stack import BUCKET_NAME
from tests.support.worker import RecordedExecutions, run_worker, sweep_after

CELL = "acme"  # run_worker drives this cell


@pytest.fixture
def token(store) -> str:
    return create_api_credential(store, CELL, [ApiPermission.READ, ApiPermission.WRITE]).token


@pytest.fixture
def bucket(store):
    return default_files()


def imported(store, files, records) -> str:
    operation = start_records_import(store, files, RecordedExecutions(), CELL, records, None, "op")
    run_worker(store, files, operation.id)
    return operation.id


def test_the_history_is_paged_by_cursor_newest_first(store, bucket, token, invoke):
    ids = [imported(store, bucket, users(1)) for _ in range(5)]
    seen, query = [], {"limit": "2"}
    while True:
        result = invoke("NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports", token, query=query))
        assert result.status == 200 and len(result.body["items"]) <= 2
        seen += [item["id"] for item in result.body["items"]]
        if "nextCursor" not in result.body:
            break
        query = {"limit": "2", "cursor": result.body["nextCursor"]}
    assert seen == ids[::-1]


def test_a_cursor_of_another_listing_is_a_400(store, bucket, token, invoke):
    parent = imported(store, bucket, users(4, invalid={0, 1, 2}))
    page = invoke(
        "NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports/{parent}/errors", token, query={"limit": "1"})
    )
    foreign = page.body["nextCursor"]
    result = invoke(
        "NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports", token, query={"cursor": foreign})
    )
    assert (result.status, result.body["type"]) == (400, "urn:bulk-import:problem:invalid-cursor")


def test_an_invalid_query_is_a_422_problem_naming_each_invalid_parameter_before_any_credential_check(store, invoke):
    listing = invoke(
        "NativeReadFunction",
        api_event("GET", f"/v1/cells/{CELL}/imports", query={"limit": "0", "cursor": "x", "state": "sleeping"}),
    )
    assert (listing.status, listing.headers["Content-Type"]) == (422, ["application/problem+json"])
    assert listing.body == {
        "type": "urn:bulk-import:problem:invalid-request",
        "title": "The request is not valid",
        "status": 422,
        "instance": f"/v1/cells/{CELL}/imports",
        "errors": [
            "query.limit: must be a whole number from 1 to 1000",
            "query.state: must be one of none, new, loading, ready, importing, error, canceled, done",
        ],
    }
    errors = invoke(
        "NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports/x/errors", query={"limit": "2.5"})
    )
    assert (errors.status, errors.body["errors"]) == (422, ["query.limit: must be a whole number from 1 to 1000"])


UPLOAD_ID = "0123456789abcdef01234567"
USER = {"type": "user", "username": "ann", "emails": ["ann@example.com"]}


@pytest.mark.parametrize(
    ("path", "body", "errors"),
    [
        ("uploads", {}, ["body.filename: is required"]),
        (
            "uploads",
            {"filename": "a/b", "size": -1},
            [
                "body.filename: must be a file name, without '/', '\\' or control characters",
                "body.size: must be at least 0",
            ],
        ),
        (
            "uploads",
            {"filename": "", "size": "many"},
            ["body.filename: must not be empty", "body.size: must be a whole number"],
        ),
        ("uploads", {"filename": 5}, ["body.filename: must be a string"]),
        ("uploads", [], ["body: must be a JSON object"]),
        ("uploads/u1/complete", {"etags": []}, ["body.etags: must have at least 1 item"]),
        ("uploads/u1/complete", {"etags": "abc"}, ["body.etags: must be a list"]),
        ("uploads/u1/complete", {"etags": ["a", 5]}, ["body.etags[1]: must be a string"]),
        ("imports", {}, ["body: give either uploadId or records, not both"]),
        ("imports", {"uploadId": UPLOAD_ID, "records": [USER]}, ["body: give either uploadId or records, not both"]),
        (
            "imports",
            {"uploadId": "zz", "name": "n" * 257},
            [
                "body.uploadId: must be an uploadId as POST .../uploads answered it (24 hexadecimal digits, lowercase)",
                "body.name: must have at most 256 characters",
            ],
        ),
        (
            "imports",
            {"records": [USER, {"type": "group"}, {}, 5]},
            [
                "body.records[1].type: must be one of user, channel, message",
                "body.records[2].type: is required",
                "body.records[3]: must be a JSON object",
            ],
        ),
        ("imports", {"records": []}, ["body.records: must have at least 1 item"]),
        (
            "imports/019a0000000000000000d001/retry",
            {"corrections": {"user:1": {}, "bad": {}, "user:2": 5}},
            [
                'body.corrections: the key "bad" must be a record id as the errors listing names it: '
                "user:<n>, channel:<n> or message:<n>",
                'body.corrections["user:2"]: must be a JSON object',
            ],
        ),
        ("imports/019a0000000000000000d001/retry", {"corrections": []}, ["body.corrections: must be a JSON object"]),
    ],
)
def test_an_invalid_body_is_a_422_problem_naming_each_invalid_field_and_what_it_must_be(
    store, token, invoke, path, body, errors
):
    result = invoke("NativeWriteFunction", api_event("POST", f"/v1/cells/{CELL}/{path}", token, body))
    assert (result.status, result.headers["Content-Type"]) == (422, ["application/problem+json"])
    assert result.body == {
        "type": "urn:bulk-import:problem:invalid-request",
        "title": "The request is not valid",
        "status": 422,
        "instance": f"/v1/cells/{CELL}/{path}",
        "errors": errors,
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"filename": "a.zip",', "body: is not JSON (at offset 21)"),
        ('{"filename": "a.zip", "size": NaN}', "body: is not JSON (NaN is not a JSON number)"),
        ("", "body: is required"),
        ("null", "body: is required"),
    ],
)
def test_a_body_that_is_not_a_json_document_is_a_422_problem(store, token, invoke, text, error):
    event = api_event("POST", f"/v1/cells/{CELL}/uploads", token, headers={"Content-Type": "application/json"})
    event["body"] = text
    result = invoke("NativeWriteFunction", event)
    assert (result.status, result.body["errors"]) == (422, [error])


def test_a_body_is_checked_before_the_credential(store, invoke):
    result = invoke("NativeWriteFunction", api_event("POST", f"/v1/cells/{CELL}/imports", None, {"records": []}))
    assert (result.status, result.body["errors"]) == (422, ["body.records: must have at least 1 item"])


def test_a_retry_without_a_body_is_a_retry_without_corrections(store, bucket, token, invoke):
    parent = imported(store, bucket, users(4, invalid={1, 2}))
    result = invoke("NativeWriteFunction", api_event("POST", f"/v1/cells/{CELL}/imports/{parent}/retry", token))
    assert (result.status, result.body["parentId"], result.body["state"]) == (202, parent, "loading")


def test_failed_records_page_through_http_and_download_as_csv(store, bucket, token, invoke):
    parent = imported(store, bucket, users(20, invalid={2, 7, 11, 19}))
    seen, query = [], {"limit": "3"}
    while True:
        result = invoke(
            "NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports/{parent}/errors", token, query=query)
        )
        seen += [(item["record"], item["source"], item["code"]) for item in result.body["items"]]
        if "nextCursor" not in result.body:
            break
        query = {"limit": "3", "cursor": result.body["nextCursor"]}
    assert seen == [(f"user:{n}", f"records.jsonl:{n + 1}", "invalid-record") for n in (2, 7, 11, 19)]

    download = invoke(
        "NativeReadFunction",
        api_event("GET", f"/v1/cells/{CELL}/imports/{parent}/errors", token, headers={"Accept": "text/csv"}),
    )
    assert download.status == 303
    location = urlsplit(download.headers["Location"][0])
    key = location.path.lstrip("/").removeprefix(f"{BUCKET_NAME}/")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in location.query and "X-Amz-Signature" in location.query  # SigV4
    body = boto3.client("s3").get_object(Bucket=BUCKET_NAME, Key=key)["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["record", "type", "source", "code", "message", "data"]
    assert [row[0] for row in rows[1:]] == ["user:2", "user:7", "user:11", "user:19"]
    assert json.loads(rows[1][5])["username"] == "user2"


def test_a_repeated_start_with_the_same_idempotency_key_returns_the_same_import(store, bucket, token, invoke):
    body = {"records": users(2), "name": "twice"}
    first = invoke(
        "NativeWriteFunction",
        api_event("POST", f"/v1/cells/{CELL}/imports", token, body, headers={"Idempotency-Key": "k-1"}),
    )
    again = invoke(
        "NativeWriteFunction",
        api_event("POST", f"/v1/cells/{CELL}/imports", token, body, headers={"Idempotency-Key": "k-1"}),
    )
    assert (first.status, again.status) == (202, 202)
    assert again.body["id"] == first.body["id"]
    assert first.headers["Location"] == [
        f"https://1234567890.execute-api.us-east-1.amazonaws.com/dev/v1/cells/{CELL}/imports/{first.body['id']}"
    ]
    assert [o.id for o in store.latest_operations(CELL, 10)] == [first.body["id"]]

    other_body = invoke(
        "NativeWriteFunction",
        api_event(
            "POST", f"/v1/cells/{CELL}/imports", token, {"records": users(3)}, headers={"Idempotency-Key": "k-1"}
        ),
    )
    assert (other_body.status, other_body.body["type"]) == (422, "urn:bulk-import:problem:idempotency-key-reused")
    without_key = invoke("NativeWriteFunction", api_event("POST", f"/v1/cells/{CELL}/imports", token, body))
    assert (without_key.status, without_key.body["type"]) == (409, "urn:bulk-import:problem:import-in-progress")


def test_reading_one_import_is_one_dynamodb_request_auth_included(store, bucket, token, invoke, dynamodb_requests):
    operation = imported(store, bucket, users(2))
    dynamodb_requests.clear()
    result = invoke("NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports/{operation}", token))
    assert result.status == 200 and result.body["state"] == "done"
    assert dict(dynamodb_requests) == {"BatchGetItem": 1}


def test_a_retry_reads_the_corrected_records_markers_with_the_credential(
    store, bucket, token, invoke, dynamodb_requests
):
    parent = imported(store, bucket, users(120, invalid={5, 110}))

    def retry_with(corrections: dict):
        return invoke(
            "NativeWriteFunction",
            api_event("POST", f"/v1/cells/{CELL}/imports/{parent}/retry", token, {"corrections": corrections}),
        )

    fixed = {"username": "fixed5", "emails": ["fixed5@example.com"]}
    refused = retry_with({"user:5": fixed, "user:60": fixed, "user:111": fixed})  # batches 0, 1 and 2
    assert (refused.status, refused.body["errors"]) == (
        422,
        [f"user:60: not a failed record of {parent}", f"user:111: not a failed record of {parent}"],
    )
    dynamodb_requests.clear()
    started = retry_with({"user:5": fixed, "user:110": fixed | {"username": "fixed110"}})
    assert started.status == 202 and started.body["parentId"] == parent
    assert dict(dynamodb_requests) == {"BatchGetItem": 1, "TransactWriteItems": 1}


def test_a_read_only_credential_cannot_start_and_an_expired_one_cannot_read(store, bucket, invoke):
    reader = create_api_credential(store, CELL, [ApiPermission.READ]).token
    refused = invoke(
        "NativeWriteFunction", api_event("POST", f"/v1/cells/{CELL}/imports", reader, {"records": users(1)})
    )
    assert (refused.status, refused.body["type"]) == (403, "urn:bulk-import:problem:forbidden")
    expired = create_api_credential(store, CELL, [ApiPermission.READ], lifetime=timedelta(seconds=-1)).token
    result = invoke("NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports", expired))
    assert (result.status, result.body["type"]) == (401, "urn:bulk-import:problem:credential-expired")
    scheme = invoke(
        "NativeReadFunction",
        api_event("GET", f"/v1/cells/{CELL}/imports", headers={"Authorization": "Basic dXNlcjpwdw=="}),
    )
    assert (scheme.status, scheme.body["type"]) == (401, "urn:bulk-import:problem:invalid-credential")


def test_an_unknown_route_is_a_problem_404(store, token, invoke):
    result = invoke("NativeReadFunction", api_event("GET", "/v1/nowhere", token))
    assert (result.status, result.body["type"]) == (404, "urn:bulk-import:problem:not-found")


def test_multipart_upload_parts_are_listed_and_completed(store, bucket, token, invoke):
    size = 6 * 1024**3
    created = invoke(
        "NativeWriteFunction",
        api_event("POST", f"/v1/cells/{CELL}/uploads", token, {"filename": "big.jsonl", "size": size}),
    )
    assert created.status == 200 and len(created.body["parts"]) == -(-size // created.body["partSize"]) > 1
    urls = [part["url"] for part in created.body["parts"]]
    assert all("X-Amz-Algorithm=AWS4-HMAC-SHA256" in url for url in urls)  # SigV2 fails in newer regions
    upload_id = created.body["uploadId"]
    key, multipart_id = bucket.pending_multipart(f"uploads/{CELL}/{upload_id}/")
    content = b"".join(json.dumps(record).encode() + b"\n" for record in users(3))
    etag = bucket.client.upload_part(Bucket=BUCKET_NAME, Key=key, UploadId=multipart_id, PartNumber=1, Body=content)[
        "ETag"
    ]
    wrong = invoke(
        "NativeWriteFunction",
        api_event("POST", f"/v1/cells/{CELL}/uploads/{upload_id}/complete", token, {"etags": ['"not-a-part"']}),
    )
    assert (wrong.status, wrong.body["type"]) == (400, "urn:bulk-import:problem:parts-rejected")
    assert wrong.body["detail"]  # S3's words: which part
    completed = invoke(
        "NativeWriteFunction",
        api_event("POST", f"/v1/cells/{CELL}/uploads/{upload_id}/complete", token, {"etags": [etag]}),
    )
    assert (completed.status, completed.body) == (200, {"uploadId": upload_id, "filename": "big.jsonl"})
    started = invoke(
        "NativeWriteFunction", api_event("POST", f"/v1/cells/{CELL}/imports", token, {"uploadId": upload_id})
    )
    assert started.status == 202 and started.body["name"] == "big.jsonl"
    again = invoke(
        "NativeWriteFunction",
        api_event("POST", f"/v1/cells/{CELL}/uploads/{upload_id}/complete", token, {"etags": [etag]}),
    )
    assert (again.status, again.body["type"]) == (404, "urn:bulk-import:problem:upload-not-found")


# -- events and the sweeper ------------------------------------------------------------------------


@pytest.fixture
def captured_events(store, function_environment):
    """Every event on the import bus."""
    return capture_bus_events(function_environment["EVENT_BUS_NAME"], "captured", {"source": ["bulk-import"]})


def stream_record(old, new) -> dict:
    change = {
        "Keys": marshal(latest_operation_key(new.cell)),
        "NewImage": marshal({**latest_operation_key(new.cell), **operation_to_item(new)}),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        change["OldImage"] = marshal({**latest_operation_key(old.cell), **operation_to_item(old)})
    return {
        "eventID": "1",
        "eventName": "MODIFY" if old else "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
        "dynamodb": change,
    }


def test_operation_changes_on_the_stream_become_events_on_the_bus(store, bucket, captured_events):
    from tests.support.stack import FUNCTIONS

    operation = start_records_import(store, bucket, RecordedExecutions(), CELL, users(10), None, "op")
    progressed = replace(
        operation, step=ProgressStep.IMPORTING_USERS, count=replace(operation.count, total=10, completed=3)
    )
    staged = {
        "eventID": "2",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"PK": {"S": "STAGE#x#user#00000000"}, "SK": {"S": "0000000000"}},
            "NewImage": {"PK": {"S": "STAGE#x#user#00000000"}, "SK": {"S": "0000000000"}},
        },
    }

    result = FUNCTIONS.invoke(
        "ImportEventsFunction",
        {"Records": [stream_record(None, operation), staged, stream_record(operation, progressed)]},
    )

    assert result == {"batchItemFailures": []}
    received = captured_events()
    assert [(e["detail-type"], e["detail"]["state"], e["detail"]["percent"]) for e in received] == [
        ("Import State Changed", "loading", 0),
        ("Import State Changed", "importing", 30),
        ("Import Progress", "importing", 30),
    ]
    assert all(e["source"] == "bulk-import" and e["detail"]["id"] == operation.id for e in received)


def test_the_sweeper_handler_fails_a_stalled_import(store, bucket, function_environment, monkeypatch):
    from bulk_import_local.local_stack import clear_cached_clients
    from tests.support.stack import FUNCTIONS

    monkeypatch.setenv("FAIL_STALLED_AFTER_MINUTES", "1")
    monkeypatch.setenv("STALLED_AFTER_MINUTES", "1")
    clear_cached_clients()
    operation = start_records_import(store, bucket, RecordedExecutions(), CELL, users(2), None, "op")
    assert FUNCTIONS.invoke("ImportSweeperFunction", {}) == {
        "stalled": [],
        "failed": [],
        "started": [],
        "reconciled": [],
        "resumed": [],
    }
    old = (utc_now() - timedelta(minutes=5)).isoformat()
    arn = RecordedExecutions().execution_arn(operation.id)  # its worker ran (recorded it), then stalled
    store.client.update_item(
        TableName=store.table_name,
        Key=marshal(latest_operation_key(CELL)),
        UpdateExpression="SET heartbeatAt = :old, executionArn = :arn",
        ExpressionAttributeValues=marshal({":old": old, ":arn": arn}),
    )

    assert FUNCTIONS.invoke("ImportSweeperFunction", {}) == {
        "stalled": [operation.id],
        "failed": [operation.id],
        "started": [],
        "reconciled": [],
        "resumed": [],
    }
    assert store.latest_operation(CELL).step is ProgressStep.IMPORT_FAILED


@pytest.mark.parametrize("media_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_body_that_is_not_json_is_a_415_not_a_puzzling_validation_error(store, token, invoke, media_type):
    event = api_event("POST", f"/v1/cells/{CELL}/imports", token, headers={"Content-Type": media_type})
    event["body"] = '{"records": [{"type": "user", "username": "ann", "emails": ["ann@example.com"]}]}'
    result = invoke("NativeWriteFunction", event)
    assert (result.status, result.body["type"]) == (415, "urn:bulk-import:problem:unsupported-media-type")


def test_two_starts_with_one_key_at_once_answer_one_import(store, bucket, token, invoke, monkeypatch):
    import threading

    from bulk_import.dal.dynamodb import ImportStore

    entered, release = threading.Event(), threading.Event()
    claim = ImportStore.start_operation

    def first_waits(self, *args, **kwargs):  # the first request waits to claim until the second has
        if not entered.is_set():
            entered.set()
            release.wait(10)
        return claim(self, *args, **kwargs)

    monkeypatch.setattr(ImportStore, "start_operation", first_waits)
    event = api_event(
        "POST", f"/v1/cells/{CELL}/imports", token, {"records": users(1)}, headers={"Idempotency-Key": "at-once"}
    )
    answers = []
    first = threading.Thread(target=lambda: answers.append(invoke("NativeWriteFunction", event)))
    first.start()
    assert entered.wait(10)
    try:
        second = invoke("NativeWriteFunction", event)
    finally:
        release.set()
        first.join(10)
    assert (answers[0].status, second.status) == (202, 202) and answers[0].body["id"] == second.body["id"]
    assert [o.id for o in store.latest_operations(CELL, 10)] == [second.body["id"]]


def test_a_key_answers_with_its_import_for_24_hours(store, bucket, token, invoke):
    event = api_event(
        "POST", f"/v1/cells/{CELL}/imports", token, {"records": users(1)}, headers={"Idempotency-Key": "daily"}
    )
    first = invoke("NativeWriteFunction", event)
    run_worker(store, bucket, first.body["id"])
    assert invoke("NativeWriteFunction", event).body["id"] == first.body["id"]  # done, and still its answer
    (item,) = store.client.query(
        TableName=store.table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"IDEMPOTENCY#{CELL}"}},
    )["Items"]
    assert int(item["expiresAt"]["N"]) - utc_now().timestamp() == pytest.approx(24 * 3600, abs=5)
    store.client.update_item(
        TableName=store.table_name,
        Key={"PK": item["PK"], "SK": item["SK"]},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(utc_now().timestamp()) - 1)}},
    )
    again = invoke("NativeWriteFunction", event)  # expired (TTL has not deleted it yet): a new start
    assert again.status == 202 and again.body["id"] != first.body["id"]


def test_an_unexpected_error_is_a_500_problem_without_a_trace(store, token, invoke, monkeypatch):
    from tests.support.stack import FUNCTIONS

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(FUNCTIONS.module("NativeReadFunction"), "api_operations", broken)
    result = invoke("NativeReadFunction", api_event("GET", f"/v1/cells/{CELL}/imports", token))
    assert (result.status, result.body["type"]) == (500, "urn:bulk-import:problem:internal-error")
    assert "secret" not in json.dumps(result.body)


def test_a_keyed_start_that_died_after_its_claim_is_answered_by_its_retry_and_started_by_the_sweeper(
    store, bucket, token, invoke, executions
):
    """The function claims the cell (the key recorded in the same transaction), then dies before
    StartExecution. The client's retry with the key answers that import, without a second claim or
    an `import-in-progress`; the sweeper starts it."""
    from bulk_import_local.sdk_boundary import Fault, SdkBoundary, SimulatedCrash

    event = api_event(
        "POST",
        f"/v1/cells/{CELL}/imports",
        token,
        {"records": users(2), "name": "dies"},
        headers={"Idempotency-Key": "dies-once"},
    )
    boundary = SdkBoundary(strict=True)
    undo = boundary.install()
    try:
        boundary.inject(Fault("stepfunctions", "StartExecution", "crash-before", function="NativeWriteFunction"))
        with pytest.raises(SimulatedCrash):
            invoke("NativeWriteFunction", event)
        again = invoke("NativeWriteFunction", event)  # the client's retry
    finally:
        undo()
    assert len(boundary.fired) == 1
    (claimed,) = store.latest_operations(CELL, 10)
    assert (again.status, again.body["id"]) == (202, claimed.id)
    assert claimed.is_active and claimed.execution_arn is None  # nobody started it yet
    assert [call.operation for call in boundary.calls if call.function == "NativeWriteFunction"].count(
        "TransactWriteItems"
    ) == 1  # the retry claimed nothing

    swept = sweep_after(store, bucket, executions, 3)
    assert [operation.id for operation in swept.started] == [claimed.id]
    assert executions.started == [(CELL, claimed.id)]

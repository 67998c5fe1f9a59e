"""What each file in events/ answers through its handler with the demo data seeded
(tests/integration/test_events.py runs them against moto, tests/integration/test_sam_local_invoke.py
through `sam local invoke`)."""

from __future__ import annotations

import base64
from pathlib import Path

from bulk_import_cli.demo import ACTIVE_OPERATION_ID, DONE_OPERATION_ID
from tests.support.events import HttpResult
from tests.support.stack import ROOT

PERSONIUM_ERROR = {"code", "message"}
IN_PROGRESS = {
    "status": "importation in progress",
    "progress": "81%",
    "importation_name": "CellExport_2017_01",
}


def personium_error(code):
    return lambda body: body["code"] == code and body["message"]["lang"] == "en" and body["message"]["value"]


def personium_in_progress(body):
    return {k: body[k] for k in IN_PROGRESS} == IN_PROGRESS and body["started_at"].endswith("Z")


def rocketchat_error(text):
    return lambda body: body["success"] is False and body["error"] == text


NOT_LOGGED_IN = rocketchat_error("You must be logged in to do this.")
FORBIDDEN = rocketchat_error("User does not have the permissions required for this action [error-unauthorized]")

EXPECTED = {
    "PersoniumStatusFunction/status-in-progress.json": (200, personium_in_progress),
    "PersoniumStatusFunction/status-cookie-auth.json": (200, personium_in_progress),
    "PersoniumStatusFunction/status-x-override-authorization.json": (200, personium_in_progress),
    "PersoniumStatusFunction/status-no-authorization.json": (401, personium_error("PR401-AU-0001")),
    "PersoniumStatusFunction/status-invalid-token.json": (401, personium_error("PR401-AU-0006")),
    "PersoniumStatusFunction/status-forbidden-not-root.json": (403, personium_error("PR403-AU-0002")),
    "PersoniumStatusFunction/status-forbidden-other-cell.json": (403, personium_error("PR403-AU-0002")),
    "PersoniumStatusFunction/status-unknown-cell.json": (404, personium_error("PR404-DV-0003")),
    "PersoniumStatusFunction/status-invalid-request-key.json": (400, personium_error("PR400-EV-0002")),
    "RocketChatStatusFunction/import-status.json": (
        200,
        lambda body: body["success"] and body["state"] == "ready" and body["operation"]["count"]["total"] == 8000,
    ),
    "RocketChatStatusFunction/get-current-import-operation.json": (
        200,
        lambda body: body["success"] and body["operation"]["status"] == "importer_user_selection",
    ),
    "RocketChatStatusFunction/get-latest-import-operations.json": (
        200,
        lambda body: [operation["importerKey"] for operation in body] == ["api"],
    ),
    "RocketChatStatusFunction/get-import-progress.json": (
        200,
        lambda body: (
            body
            == {
                "key": "api",
                "name": "API",
                "step": "importer_user_selection",
                "count": {"completed": 0, "total": 8000, "error": 0},
                "success": True,
            }
        ),
    ),
    "RocketChatStatusFunction/get-import-progress-bad-query.json": (
        400,
        lambda body: (
            body
            == {"success": False, "error": "must NOT have additional properties", "errorType": "error-invalid-params"}
        ),
    ),
    "RocketChatStatusFunction/importers-list.json": (
        200,
        lambda body: (
            body
            == [
                {"key": "csv", "name": "CSV"},
                {"key": "slack", "name": "Slack"},
                {"key": "slack-users", "name": "Slack_Users"},
            ]
        ),
    ),
    # The demo's operation is the API importer's: its users were added in the table, not from a file.
    "RocketChatStatusFunction/get-import-file-data.json": (
        200,
        lambda body: (
            body == {"name": "API", "users": [], "channels": [], "contacts": [], "message_count": 0, "success": True}
        ),
    ),
}
NOT_LOGGED_IN_OR_FORBIDDEN = {
    "RocketChatImportFunction/import-new-not-logged-in.json": (401, NOT_LOGGED_IN),
    "RocketChatImportFunction/import-new-forbidden.json": (403, FORBIDDEN),
    "RocketChatImportFunction/import-run-forbidden.json": (403, FORBIDDEN),
}
EXPECTED |= NOT_LOGGED_IN_OR_FORBIDDEN | {
    "RocketChatImportFunction/import-new.json": (
        200,
        lambda body: body["success"] and body["operation"]["status"] == "importer_new",
    ),
    "RocketChatImportFunction/import-add-users.json": (200, lambda body: body == {"success": True}),
    "RocketChatImportFunction/import-add-users-missing-data.json": (
        400,
        rocketchat_error("Users are missing required data."),
    ),
    "RocketChatImportFunction/import-add-users-invalid-params.json": (
        400,
        lambda body: body["success"] is False and body["errorType"] == "invalid-params",
    ),
    "RocketChatImportFunction/import-run.json": (200, lambda body: body == {"success": True}),
    "RocketChatImportFunction/upload-import-file.json": (200, lambda body: body == {"success": True}),
    "RocketChatImportFunction/upload-import-file-slack.json": (200, lambda body: body == {"success": True}),
    "RocketChatImportFunction/upload-import-file-importer-not-defined.json": (
        400,
        lambda body: (
            body
            == {
                "success": False,
                "error": "The importer (png) has no import class defined. [error-importer-not-defined]",
                "errorType": "error-importer-not-defined",
                "details": "uploadImportFile",
            }
        ),
    ),
    # The demo's cell has imported nothing: no download is left, and the new operation is done at once.
    "RocketChatImportFunction/download-pending-files.json": (200, lambda body: body == {"count": 0, "success": True}),
    "RocketChatImportFunction/download-pending-avatars.json": (200, lambda body: body == {"count": 0, "success": True}),
    "RocketChatImportFunction/download-public-import-file-refused.json": (
        400,
        lambda body: body == {"success": False, "error": "error-ssrf-validation-failed"},
    ),
    "RocketChatImportFunction/upload-import-file-invalid-params.json": (
        400,
        lambda body: (
            body
            == {"success": False, "error": "must have required property 'contentType'", "errorType": "invalid-params"}
        ),
    ),
    "RocketChatImportFunction/start-import-not-prepared.json": (
        400,
        rocketchat_error("error-invalid-operation-status"),
    ),
    "RocketChatImportFunction/start-import-invalid-params.json": (
        400,
        lambda body: body == {"success": False, "error": "must be array", "errorType": "invalid-params"},
    ),
    "RocketChatImportFunction/import-clear.json": (200, lambda body: body == {"success": True}),
    "PersoniumImportFunction/start-import.json": (202, lambda body: body is None),
    # A write to a cell being imported, a second import too (Personium's cell lock).
    "PersoniumImportFunction/start-import-busy.json": (409, personium_error("PR409-CM-0002")),
    "PersoniumImportFunction/start-import-no-authorization.json": (401, personium_error("PR401-AU-0001")),
    "PersoniumImportFunction/start-import-missing-name.json": (400, personium_error("PR400-CM-0001")),
    "PersoniumImportFunction/start-import-bad-name.json": (400, personium_error("PR400-CM-0002")),
    "PersoniumImportFunction/start-import-bad-json.json": (400, personium_error("PR400-CM-0004")),
    "PersoniumImportFunction/start-import-snapshot-not-found.json": (404, personium_error("PR404-DV-0001")),
    "PersoniumImportFunction/put-snapshot.json": (201, lambda body: body is None),
    # The demo's sample snapshot of the idle cell, as bytes (base64 in the proxy answer; API
    # Gateway decodes them for this request's Accept).
    "PersoniumImportFunction/get-snapshot.json": (200, lambda body: base64.b64decode(body)[:4] == b"PK\x03\x04"),
    # The file is looked up before the caller's rights, as Personium does.
    "PersoniumImportFunction/get-snapshot-missing-anonymous.json": (404, personium_error("PR404-DV-0001")),
    "PersoniumImportFunction/delete-snapshot.json": (204, lambda body: body is None),
    "PersoniumImportFunction/delete-snapshot-etag-mismatch.json": (412, personium_error("PR412-DV-0001")),
    "PersoniumImportFunction/report-snapshot.json": (501, personium_error("PR501-MC-0001")),
    "PersoniumImportFunction/propfind-snapshots.json": (
        207,
        lambda body: body.count("<response>") == 2 and "/elsewhere/__snapshot/demo-snapshot.zip</href>" in body,
    ),
    "PersoniumImportFunction/propfind-snapshots-infinite-depth.json": (403, personium_error("PR403-DV-0001")),
    "PersoniumImportFunction/put-snapshot-during-import.json": (409, personium_error("PR409-CM-0002")),
}
#: OPTIONS, as each product answers it (tests/integration/test_cors_preflight.py has every case).
EXPECTED |= {
    "PersoniumStatusFunction/options-import.json": (200, lambda body: body is None),
    "PersoniumImportFunction/options-snapshot.json": (200, lambda body: body is None),
    "RocketChatStatusFunction/options-import-status.json": (
        405,
        lambda body: body == 'CORS not enabled. Go to "Admin > General > REST Api" to enable it.',
    ),
    "RocketChatImportFunction/options-import-new.json": (200, lambda body: body == "OK"),
    "NativeReadFunction/options-imports.json": (204, lambda body: body is None),
    "NativeWriteFunction/options-retry-import.json": (204, lambda body: body is None),
}
for slug in [
    "import-status",
    "get-current-import-operation",
    "get-latest-import-operations",
    "get-import-progress",
    "importers-list",
]:
    EXPECTED[f"RocketChatStatusFunction/{slug}-not-logged-in.json"] = (401, NOT_LOGGED_IN)
    EXPECTED[f"RocketChatStatusFunction/{slug}-wrong-token.json"] = (401, NOT_LOGGED_IN)
    EXPECTED[f"RocketChatStatusFunction/{slug}-forbidden.json"] = (403, FORBIDDEN)


def problem(slug):
    return lambda body: body["type"] == f"urn:bulk-import:problem:{slug}" and body["status"] and body["title"]


def import_view(**expected):
    return lambda body: {name: body[name] for name in expected} == expected and body["startedAt"].endswith("Z")


NATIVE = {
    "NativeReadFunction/list-imports.json": (
        200,
        lambda body: [i["id"] for i in body["items"]] == [ACTIVE_OPERATION_ID],
    ),
    "NativeReadFunction/list-imports-done.json": (
        200,
        lambda body: [(i["id"], i["state"]) for i in body["items"]] == [(DONE_OPERATION_ID, "done")],
    ),
    "NativeReadFunction/list-imports-bad-cursor.json": (400, problem("invalid-cursor")),
    "NativeReadFunction/list-imports-bad-state.json": (422, problem("invalid-request")),
    "NativeReadFunction/list-imports-no-authorization.json": (401, problem("unauthenticated")),
    "NativeReadFunction/get-import.json": (
        200,
        import_view(id=ACTIVE_OPERATION_ID, state="importing", percent=81, stalled=False),
    ),
    "NativeReadFunction/get-import-done.json": (
        200,
        import_view(
            id=DONE_OPERATION_ID,
            state="done",
            counts={"total": 5, "users": 5, "messages": 0, "channels": 0, "completed": 3, "error": 2},
        ),
    ),
    "NativeReadFunction/get-import-not-found.json": (404, problem("operation-not-found")),
    "NativeReadFunction/get-import-other-cell.json": (403, problem("forbidden")),
    "NativeReadFunction/get-import-invalid-token.json": (401, problem("invalid-credential")),
    "NativeReadFunction/list-errors.json": (
        200,
        lambda body: (
            [(i["record"], i["code"], i["source"]) for i in body["items"]]
            == [("user:1", "invalid-record", "users.jsonl:2"), ("user:4", "already-exists", "users.jsonl:5")]
        ),
    ),
    "NativeReadFunction/list-errors-csv.json": (303, lambda body: body is None),
    "NativeWriteFunction/create-upload.json": (
        200,
        lambda body: body["method"] == "PUT" and "users.zip" in body["url"],
    ),
    "NativeWriteFunction/create-upload-multipart.json": (
        200,
        lambda body: "url" not in body and len(body["parts"]) == 32 and body["partSize"] == 384 * 1024**2,  # 12 GiB
    ),
    "NativeWriteFunction/create-upload-reader-forbidden.json": (403, problem("forbidden")),
    "NativeWriteFunction/create-upload-bad-filename.json": (422, problem("invalid-request")),
    "NativeWriteFunction/start-import-upload.json": (202, import_view(state="loading", name="users.zip")),
    "NativeWriteFunction/start-import-records.json": (202, import_view(state="loading", name="two users")),
    "NativeWriteFunction/start-import-busy.json": (409, problem("import-in-progress")),
    "NativeWriteFunction/start-import-two-sources.json": (422, problem("invalid-request")),
    "NativeWriteFunction/start-import-upload-not-found.json": (404, problem("upload-not-found")),
    "NativeWriteFunction/start-import-bad-json.json": (422, problem("invalid-request")),
    "NativeWriteFunction/cancel-import.json": (200, import_view(id=ACTIVE_OPERATION_ID, state="canceled")),
    "NativeWriteFunction/cancel-import-not-cancelable.json": (409, problem("not-cancelable")),
    "NativeWriteFunction/retry-import.json": (202, import_view(state="loading", parentId=DONE_OPERATION_ID)),
    "NativeWriteFunction/retry-import-invalid-corrections.json": (
        422,
        lambda body: problem("invalid-corrections")(body) and len(body["errors"]) == 2,
    ),
    "NativeWriteFunction/retry-import-not-retryable.json": (409, problem("not-retryable")),
    "ApiDocsFunction/openapi-json.json": (200, lambda body: body["openapi"] == "3.1.0" and len(body["paths"]) == 25),
    "ApiDocsFunction/docs.json": (200, lambda body: "swagger-ui" in body and '"openapi": "3.1.0"' in body),
}
EXPECTED |= NATIVE
#: Events of functions that API Gateway does not call: what the handler returns.
NOT_HTTP = {
    "ImportSweeperFunction/scheduled.json": lambda result: (
        result == {"stalled": [], "failed": [], "started": [], "reconciled": [], "resumed": []}
    ),
    "ImportEventsFunction/import-progress.json": lambda result: result == {"batchItemFailures": []},
}
#: What each response's Content-Type is, by the start of the file name; JSON when none matches.
CONTENT_TYPES = {
    "PersoniumImportFunction/get-snapshot.json": "application/zip",
    "PersoniumImportFunction/propfind-snapshots.json": "application/xml",
    "ApiDocsFunction/docs": "text/html; charset=utf-8",
    "NativeReadFunction/list-errors-csv": None,
    "RocketChatStatusFunction/options": "text/plain;charset=UTF-8",
    "RocketChatImportFunction/options": "text/plain;charset=UTF-8",
}

EVENT_FILES = sorted(str(path.relative_to(ROOT / "events")) for path in (ROOT / "events").rglob("*.json"))


def assert_expected_answer(event_file: str, result: HttpResult) -> None:
    """The answer to an API event file with the demo data seeded: its status, body and Content-Type."""
    function = Path(event_file).parts[0]
    status, check = EXPECTED[event_file]
    assert result.status == status, result.body
    assert check(result.body), result.body
    if result.body is not None:
        expected = next(
            (kind for prefix, kind in CONTENT_TYPES.items() if event_file.startswith(prefix)),
            "application/problem+json" if status >= 400 and function.startswith("Native") else "application/json",
        )
        assert result.headers["Content-Type"] == [expected]

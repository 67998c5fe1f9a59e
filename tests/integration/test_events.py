"""Every file in events/ runs through its handler against moto, with the demo data seeded."""

from pathlib import Path

import pytest

from bulk_import.files import default_files
from bulk_import_cli.demo import seed_demo
from tests.conftest import ROOT, load_event

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
        200, lambda body: body["success"] and body["state"] == "ready" and body["operation"]["count"]["total"] == 8000
    ),
    "RocketChatStatusFunction/get-current-import-operation.json": (
        200, lambda body: body["success"] and body["operation"]["status"] == "importer_user_selection"
    ),
    "RocketChatStatusFunction/get-latest-import-operations.json": (
        200, lambda body: [operation["importerKey"] for operation in body] == ["api"]
    ),
}
NOT_LOGGED_IN_OR_FORBIDDEN = {
    "RocketChatImportFunction/import-new-not-logged-in.json": (401, NOT_LOGGED_IN),
    "RocketChatImportFunction/import-new-forbidden.json": (403, FORBIDDEN),
    "RocketChatImportFunction/import-run-forbidden.json": (403, FORBIDDEN),
}
EXPECTED |= NOT_LOGGED_IN_OR_FORBIDDEN | {
    "RocketChatImportFunction/import-new.json": (
        200, lambda body: body["success"] and body["operation"]["status"] == "importer_new"
    ),
    "RocketChatImportFunction/import-add-users.json": (200, lambda body: body == {"success": True}),
    "RocketChatImportFunction/import-add-users-missing-data.json": (400, rocketchat_error("Users are missing required data.")),
    "RocketChatImportFunction/import-add-users-invalid-params.json": (
        400, lambda body: body["success"] is False and body["errorType"] == "invalid-params"
    ),
    "RocketChatImportFunction/import-run.json": (200, lambda body: body == {"success": True}),
    "RocketChatImportFunction/import-clear.json": (200, lambda body: body == {"success": True}),
    "PersoniumImportFunction/start-import.json": (202, lambda body: body is None),
    "PersoniumImportFunction/start-import-busy.json": (409, personium_error("PR409-MC-0001")),
    "PersoniumImportFunction/start-import-no-authorization.json": (401, personium_error("PR401-AU-0001")),
    "PersoniumImportFunction/start-import-missing-name.json": (400, personium_error("PR400-CM-0001")),
    "PersoniumImportFunction/start-import-bad-name.json": (400, personium_error("PR400-CM-0002")),
    "PersoniumImportFunction/start-import-bad-json.json": (400, personium_error("PR400-CM-0004")),
    "PersoniumImportFunction/start-import-snapshot-not-found.json": (404, personium_error("PR404-DV-0001")),
    "PersoniumImportFunction/put-snapshot.json": (201, lambda body: body is None),
}
for slug in ["import-status", "get-current-import-operation", "get-latest-import-operations"]:
    EXPECTED[f"RocketChatStatusFunction/{slug}-not-logged-in.json"] = (401, NOT_LOGGED_IN)
    EXPECTED[f"RocketChatStatusFunction/{slug}-wrong-token.json"] = (401, NOT_LOGGED_IN)
    EXPECTED[f"RocketChatStatusFunction/{slug}-forbidden.json"] = (403, FORBIDDEN)

EVENT_FILES = sorted(str(path.relative_to(ROOT / "events")) for path in (ROOT / "events").rglob("*.json"))


def test_every_event_file_has_an_expectation():
    assert set(EVENT_FILES) == set(EXPECTED)


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_event_file_through_its_handler(event_file, store, invoke, function_environment):
    seed_demo(store, function_environment["ROCKETCHAT_CELL"], default_files())
    function = Path(event_file).parts[0]
    status, check = EXPECTED[event_file]

    result = invoke(function, load_event(event_file))

    assert result.status == status, result.body
    assert check(result.body), result.body
    if result.body is not None:
        assert result.headers["Content-Type"] == ["application/json"]

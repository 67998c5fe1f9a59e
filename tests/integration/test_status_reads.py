"""Status reads through the handlers on moto: requests made, headers, ordering, edge cases."""

import io
import json
import logging
import threading
from datetime import timedelta

import pytest

from bulk_import.domain.credentials import Permission
from bulk_import.domain.operation import Counts, ImportOperation, ProgressStep, new_operation_id, utc_now
from bulk_import.logic.admin import create_cell_token, create_rocketchat_credential
from bulk_import_cli import demo
from tests.support.events import load_event

PERSONIUM_OK = "PersoniumStatusFunction/status-in-progress.json"
RC_STATUS = "RocketChatStatusFunction/import-status.json"


@pytest.fixture
def seeded(store, function_environment):
    demo.seed_demo(store, function_environment["ROCKETCHAT_CELL"])
    return store


def start(store, cell, step=ProgressStep.IMPORTING_USERS, **changes):
    latest = store.latest_operations(cell, 1)
    now = utc_now()
    operation = ImportOperation(
        **{
            "id": new_operation_id(),
            "cell": cell,
            "type": "api",
            "importer_key": "api",
            "step": step,
            "started_at": now,
            "updated_at": now,
            "user": "u",
        }
        | changes
    )
    store.start_operation(operation, latest[0] if latest else None)
    return operation


@pytest.mark.parametrize(
    "event_file",
    [
        PERSONIUM_OK,
        "PersoniumStatusFunction/status-forbidden-other-cell.json",
        "PersoniumStatusFunction/status-no-authorization.json",
        "PersoniumStatusFunction/status-unknown-cell.json",
        RC_STATUS,
        "RocketChatStatusFunction/get-current-import-operation.json",
        "RocketChatStatusFunction/import-status-forbidden.json",
        "RocketChatStatusFunction/get-import-progress.json",
        "RocketChatStatusFunction/get-import-progress-bad-query.json",
        "RocketChatStatusFunction/importers-list.json",
    ],
)
def test_a_status_read_is_one_dynamodb_request_auth_included(seeded, dynamodb_requests, invoke, event_file):
    dynamodb_requests.clear()
    invoke(event_file.split("/")[0], load_event(event_file))
    assert dynamodb_requests == {"BatchGetItem": 1}


def test_rocketchat_without_credentials_makes_no_request(seeded, dynamodb_requests, invoke):
    dynamodb_requests.clear()
    result = invoke("RocketChatStatusFunction", load_event("RocketChatStatusFunction/import-status-not-logged-in.json"))
    assert result.status == 401 and sum(dynamodb_requests.values()) == 0


def test_latest_operations_is_the_credential_read_and_one_query(seeded, dynamodb_requests, invoke):
    dynamodb_requests.clear()
    invoke("RocketChatStatusFunction", load_event("RocketChatStatusFunction/get-latest-import-operations.json"))
    assert dynamodb_requests == {"BatchGetItem": 1, "Query": 1}


def test_latest_operations_sends_the_credential_read_and_the_query_together(seeded, invoke):
    """The credential read is held until the Query has been sent: sent one after the other, the read
    would wait in vain and the route would not answer 200."""
    query_sent, waited = threading.Event(), []

    def hold_the_credential_read(model, **_):
        if model.name == "BatchGetItem":
            waited.append(query_sent.wait(timeout=5))
        elif model.name == "Query":
            query_sent.set()

    seeded.client.meta.events.register("before-call.dynamodb", hold_the_credential_read)
    try:
        result = invoke(
            "RocketChatStatusFunction", load_event("RocketChatStatusFunction/get-latest-import-operations.json")
        )
    finally:
        seeded.client.meta.events.unregister("before-call.dynamodb", hold_the_credential_read)
    assert result.status == 200 and waited == [True]


def test_latest_operations_of_a_caller_without_the_permission_are_not_answered(store, invoke, function_environment):
    cell = function_environment["ROCKETCHAT_CELL"]
    start(store, cell)
    rocketchat_credential(store, cell, permissions=[Permission.RUN_IMPORT])
    refused = rocketchat_get(invoke, "getLatestImportOperations")
    assert (refused.status, refused.body) == (
        403,
        {"success": False, "error": "User does not have the permissions required for this action [error-unauthorized]"},
    )


@pytest.mark.parametrize(
    "event_file",
    [
        PERSONIUM_OK,
        "PersoniumStatusFunction/status-unknown-cell.json",
        "PersoniumStatusFunction/status-invalid-request-key.json",
    ],
)
def test_every_personium_response_carries_the_required_headers(seeded, invoke, event_file):
    result = invoke("PersoniumStatusFunction", load_event(event_file))
    assert result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert result.headers["X-Personium-Version"] == ["1.7.22"]
    assert result.headers["Content-Type"] == ["application/json"]


def test_personium_request_key_is_echoed(seeded, invoke):
    result = invoke("PersoniumStatusFunction", load_event(PERSONIUM_OK))
    assert result.headers["X-Personium-RequestKey"] == ["console-test-1"]


def test_personium_request_key_is_generated_when_absent(seeded, invoke):
    event = load_event("PersoniumStatusFunction/status-x-override-authorization.json")
    first = invoke("PersoniumStatusFunction", event).headers["X-Personium-RequestKey"][0]
    second = invoke("PersoniumStatusFunction", event).headers["X-Personium-RequestKey"][0]
    assert first != second and len(first) <= 128


@pytest.mark.parametrize("key", ["a" * 129, "with space", "semi;colon", "ü"])
def test_personium_rejects_malformed_request_keys(seeded, invoke, key):
    event = load_event(PERSONIUM_OK)
    event["headers"]["X-Personium-RequestKey"] = key
    event["multiValueHeaders"]["X-Personium-RequestKey"] = [key]
    result = invoke("PersoniumStatusFunction", event)
    assert result.status == 400 and result.body["code"] == "PR400-EV-0002"


def test_personium_accepts_a_128_character_request_key(seeded, invoke):
    event = load_event(PERSONIUM_OK)
    event["headers"]["X-Personium-RequestKey"] = event["multiValueHeaders"]["X-Personium-RequestKey"] = "k" * 128
    event["multiValueHeaders"]["X-Personium-RequestKey"] = ["k" * 128]
    assert invoke("PersoniumStatusFunction", event).status == 200


def test_personium_ready_for_a_cell_that_never_imported(store, invoke):
    token = create_cell_token(store, "fresh", root=True)
    event = load_event(PERSONIUM_OK)
    event["pathParameters"] = {"CellName": "fresh"}
    event["path"] = "/fresh/__import"
    event["headers"]["Authorization"] = f"Bearer {token.access_token}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {token.access_token}"]
    result = invoke("PersoniumStatusFunction", event)
    assert (result.status, result.body) == (200, {"status": "ready"})


def test_personium_expired_token_is_401_access_token_expired(store, invoke):
    token = create_cell_token(store, "demo", root=True, lifetime=timedelta(seconds=-1))
    event = load_event(PERSONIUM_OK)
    event["headers"]["Authorization"] = f"Bearer {token.access_token}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {token.access_token}"]
    result = invoke("PersoniumStatusFunction", event)
    assert (result.status, result.body["code"]) == (401, "PR401-AU-0002")


def test_personium_basic_auth_is_an_invalid_scheme(seeded, invoke):
    event = load_event(PERSONIUM_OK)
    event["headers"]["Authorization"] = "Basic dXNlcjpwYXNz"
    event["multiValueHeaders"]["Authorization"] = ["Basic dXNlcjpwYXNz"]
    result = invoke("PersoniumStatusFunction", event)
    assert (result.status, result.body["code"]) == (401, "PR401-AU-0003")


def test_personium_cookie_with_a_wrong_peer_is_refused(seeded, invoke):
    event = load_event("PersoniumStatusFunction/status-cookie-auth.json")
    event["queryStringParameters"]["p_cookie_peer"] = "wrong"
    event["multiValueQueryStringParameters"]["p_cookie_peer"] = ["wrong"]
    result = invoke("PersoniumStatusFunction", event)
    assert (result.status, result.body["code"]) == (401, "PR401-AU-0006")


def test_personium_failed_import_shows_its_message(seeded, invoke):
    from bulk_import.domain.operation import Failure

    running = seeded.latest_operations("demo", 1)[0]
    seeded.update_operation(
        running,
        from_steps=frozenset({running.step}),
        step=ProgressStep.IMPORT_FAILED,
        failure=Failure(
            code="PR400-BI-0006", message="[users.csv line 1: header must be username,email,name] file format error."
        ),
    )
    result = invoke("PersoniumStatusFunction", load_event(PERSONIUM_OK))
    assert result.body["status"] == "import failed"
    assert result.body["message"] == {
        "code": "PR400-BI-0006",
        "message": {"lang": "en", "value": "[users.csv line 1: header must be username,email,name] file format error."},
    }


def test_rocketchat_state_none_before_any_operation(store, invoke, function_environment):
    create_rocketchat_credential(
        store,
        function_environment["ROCKETCHAT_CELL"],
        demo.ROCKETCHAT_USER_ID,
        [Permission.RUN_IMPORT],
        token=demo.ROCKETCHAT_AUTH_TOKEN,
    )
    result = invoke("RocketChatStatusFunction", load_event(RC_STATUS))
    assert (result.status, result.body) == (200, {"success": True, "state": "none"})


def test_rocketchat_reads_the_newest_operation(seeded, invoke, function_environment):
    newest = start(seeded, function_environment["ROCKETCHAT_CELL"], count=Counts(total=100, users=100, completed=50))
    result = invoke("RocketChatStatusFunction", load_event(RC_STATUS))
    assert result.body["state"] == "importing"
    assert result.body["operation"]["_id"] == newest.id
    assert result.body["operation"]["count"]["completed"] == 50


def test_latest_operations_are_newest_first_and_at_most_twenty(seeded, invoke, function_environment):
    cell = function_environment["ROCKETCHAT_CELL"]
    started = [start(seeded, cell, step=ProgressStep.DONE) for _ in range(24)]
    result = invoke(
        "RocketChatStatusFunction", load_event("RocketChatStatusFunction/get-latest-import-operations.json")
    )
    assert [operation["_id"] for operation in result.body] == [operation.id for operation in reversed(started)][:20]
    updated = [operation["_updatedAt"] for operation in result.body]
    assert updated == sorted(updated, reverse=True)


def test_personium_request_key_is_logged(seeded, invoke):
    from bulk_import.observability import logger

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        invoke("PersoniumStatusFunction", load_event(PERSONIUM_OK))
    finally:
        logger.removeHandler(handler)
    logged = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert any(
        entry.get("request_key") == "console-test-1" and entry["message"] == "Personium request" for entry in logged
    )


def rocketchat_credential(store, cell, permissions=(Permission.RUN_IMPORT,)):
    create_rocketchat_credential(
        store, cell, demo.ROCKETCHAT_USER_ID, list(permissions), token=demo.ROCKETCHAT_AUTH_TOKEN
    )


def rocketchat_get(invoke, route, query=None):
    event = load_event("RocketChatStatusFunction/import-status.json")
    event["path"] = event["resource"] = f"/api/v1/{route}"
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} if query else None
    return invoke("RocketChatStatusFunction", event)


def meteor_error(error_type, reason):
    """ApiClass's answer to getImportProgress's Meteor.Error(error_type, reason, 'getImportProgress')."""
    return {
        "success": False,
        "error": f"{reason} [{error_type}]",
        "errorType": error_type,
        "details": "getImportProgress",
    }


@pytest.mark.parametrize(
    ("importer_key", "expected"),
    [
        (None, meteor_error("error-operation-not-found", "Import Operation Not Found")),
        (
            "hipchatenterprise",
            meteor_error("error-importer-not-defined", "The importer (hipchatenterprise) has no import class defined."),
        ),
    ],
)
def test_import_progress_refusals_are_rocket_chats_meteor_errors(
    store, invoke, function_environment, importer_key, expected
):
    cell = function_environment["ROCKETCHAT_CELL"]
    rocketchat_credential(store, cell)
    if importer_key is not None:
        start(store, cell, importer_key=importer_key)
    result = rocketchat_get(invoke, "getImportProgress")
    assert (result.status, result.body) == (400, expected)


@pytest.mark.parametrize(
    ("importer_key", "name"),
    [("api", "API"), ("csv", "CSV"), ("v1", "Bulk import API"), ("personium", "Personium snapshot")],
)
def test_import_progress_is_the_newest_operations_importer_step_and_counts(
    store, invoke, function_environment, importer_key, name
):
    cell = function_environment["ROCKETCHAT_CELL"]
    rocketchat_credential(store, cell)
    start(
        store,
        cell,
        importer_key=importer_key,
        count=Counts(total=120, users=100, channels=20, completed=70, error=3),
    )
    result = rocketchat_get(invoke, "getImportProgress")
    assert (result.status, result.body) == (
        200,
        {
            "key": importer_key,
            "name": name,
            "step": "importer_importing_users",
            "count": {"completed": 70, "total": 120, "error": 3},
            "success": True,
        },
    )


def test_importers_list_is_a_bare_array_of_the_visible_importers(store, invoke, function_environment):
    rocketchat_credential(store, function_environment["ROCKETCHAT_CELL"])
    result = rocketchat_get(invoke, "importers.list")
    assert (result.status, result.body) == (
        200,
        [
            {"key": "csv", "name": "CSV"},
            {"key": "slack", "name": "Slack"},
            {"key": "slack-users", "name": "Slack_Users"},
        ],
    )


@pytest.mark.parametrize(
    "route", ["getImportProgress", "importers.list", "getCurrentImportOperation", "getLatestImportOperations"]
)
def test_a_query_is_refused_after_authentication_and_permission_as_rocket_chats_router_does(
    store, invoke, function_environment, route
):
    cell = function_environment["ROCKETCHAT_CELL"]
    query = {"count": "5"}
    assert rocketchat_get(invoke, route, query).status == 401
    rocketchat_credential(store, cell, permissions=[])
    assert rocketchat_get(invoke, route, query).status == 403
    rocketchat_credential(store, cell, permissions=[Permission.RUN_IMPORT, Permission.VIEW_IMPORT_OPERATIONS])
    start(store, cell)
    refused = rocketchat_get(invoke, route, query)
    assert (refused.status, refused.body) == (
        400,
        {"success": False, "error": "must NOT have additional properties", "errorType": "error-invalid-params"},
    )
    assert rocketchat_get(invoke, route).status == 200


def test_import_status_has_no_query_schema_and_ignores_a_query(seeded, invoke):
    result = rocketchat_get(invoke, "import.status", {"count": "5"})
    assert result.status == 200 and result.body["state"] == "ready"

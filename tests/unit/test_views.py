"""The dialect bodies, field for field against the seed contracts."""

import json
from datetime import UTC, datetime

from bulk_import.api.personium import cell_import_status_view
from bulk_import.api.rocketchat import current_operation_view, import_status_view
from bulk_import.domain.operation import Counts, Failure, ImportOperation, ProgressStep

STARTED = datetime(2017, 2, 13, 9, 0, tzinfo=UTC)
UPDATED = datetime(2017, 2, 13, 9, 5, 1, 37000, tzinfo=UTC)


def operation(step, valid=True, **changes):
    fields = dict(
        id="64d5f3a2b1c0d9e8f7a6b5c4",
        cell="demo",
        type="personium",
        importer_key="personium",
        step=ProgressStep(step),
        valid=valid,
        started_at=STARTED,
        updated_at=UPDATED,
        user="aobEdbYhXfu5hkeqG",
        importation_name="CellExport_2017_01",
        count=Counts(total=1000, users=1000, completed=800, error=10),
    )
    return ImportOperation(**(fields | changes))


def body(view) -> dict:
    """The view as its JSON reads (plain dicts of str enums, serialised as the handlers do)."""
    return json.loads(json.dumps(view))


def test_personium_ready_when_there_was_never_an_operation():
    assert body(cell_import_status_view(None)) == {"status": "ready"}


def test_personium_ready_after_success_shows_nothing_else():
    assert body(cell_import_status_view(operation("importer_done"))) == {"status": "ready"}


def test_personium_in_progress_matches_the_seed_sample():
    assert body(cell_import_status_view(operation("importer_importing_users"))) == {
        "status": "importation in progress",
        "started_at": "2017-02-13T09:00:00.000Z",
        "progress": "81%",
        "importation_name": "CellExport_2017_01",
    }


def test_personium_failed_carries_the_message_in_personium_format():
    failed = operation(
        "importer_import_failed", failure=Failure(code="PR409-OD-0003", message="The entity already exists.")
    )
    assert body(cell_import_status_view(failed)) == {
        "status": "import failed",
        "started_at": "2017-02-13T09:00:00.000Z",
        "progress": "81%",
        "importation_name": "CellExport_2017_01",
        "message": {"code": "PR409-OD-0003", "message": {"lang": "en", "value": "The entity already exists."}},
    }


def test_personium_leaves_out_an_unknown_importation_name_instead_of_null():
    running = operation("importer_preparing_users", importation_name=None)
    assert "importation_name" not in body(cell_import_status_view(running))


def test_rocketchat_none_when_there_was_never_an_operation():
    assert body(import_status_view(None)) == {"success": True, "state": "none"}


def test_rocketchat_status_matches_the_seed_example_field_for_field():
    ready = operation(
        "importer_user_selection",
        type="api",
        importer_key="api",
        importation_name=None,
        count=Counts(total=8000, users=8000),
    )
    assert body(import_status_view(ready)) == {
        "success": True,
        "state": "ready",
        "operation": {
            "_id": "64d5f3a2b1c0d9e8f7a6b5c4",
            "type": "api",
            "importerKey": "api",
            "ts": "2017-02-13T09:00:00.000Z",
            "status": "importer_user_selection",
            "valid": True,
            "user": "aobEdbYhXfu5hkeqG",
            "_updatedAt": "2017-02-13T09:05:01.037Z",
            "count": {"total": 8000, "users": 8000, "messages": 0, "channels": 0, "completed": 0, "error": 0},
        },
    }


def test_rocketchat_file_imports_name_their_file():
    assert body(import_status_view(operation("importer_done")))["operation"]["file"] == "CellExport_2017_01"


def test_rocketchat_current_operation_without_any_operation_is_just_success():
    assert body(current_operation_view(None)) == {"success": True}

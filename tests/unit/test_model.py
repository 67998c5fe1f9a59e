"""Derivations of the one stored model: Rocket.Chat state, Personium status and progress."""

from datetime import UTC, datetime

import pytest

from bulk_import.domain.operation import (
    Counts,
    ImportOperation,
    ImportState,
    PersoniumStatus,
    ProgressStep,
    iso_millis,
    new_operation_id,
)

# Rocket.Chat's getStateOfOperation, step by step (apps/meteor/server/services/import/service.ts).
EXPECTED_STATE_WHEN_VALID = {
    "importer_new": "new",
    "importer_uploading": "loading",
    "importer_downloading_file": "loading",
    "importer_file_loaded": "loading",
    "importer_preparing_started": "loading",
    "importer_preparing_users": "loading",
    "importer_preparing_channels": "loading",
    "importer_preparing_messages": "loading",
    "importer_preparing_contacts": "loading",
    "importer_user_selection": "ready",
    "importer_importing_started": "importing",
    "importer_importing_users": "importing",
    "importer_importing_channels": "importing",
    "importer_importing_messages": "importing",
    "importer_importing_contacts": "importing",
    "importer_importing_files": "importing",
    "importer_finishing": "importing",
    "importer_done": "done",
    "importer_import_failed": "error",
    "importer_import_cancelled": "canceled",
}
MOMENT = datetime(2017, 2, 13, 9, 0, 0, 123456, tzinfo=UTC)


def operation(step: str, valid: bool = True, **changes) -> ImportOperation:
    fields = dict(
        id=new_operation_id(),
        cell="demo",
        type="api",
        importer_key="api",
        step=step,
        valid=valid,
        started_at=MOMENT,
        updated_at=MOMENT,
        user="u1",
    )
    return ImportOperation(**(fields | changes))


def test_every_progress_step_has_an_expected_state():
    assert set(EXPECTED_STATE_WHEN_VALID) == {step.value for step in ProgressStep}


@pytest.mark.parametrize("step", list(EXPECTED_STATE_WHEN_VALID))
@pytest.mark.parametrize("valid", [True, False])
def test_state_follows_rocketchat_for_every_step_and_valid(step, valid):
    expected = EXPECTED_STATE_WHEN_VALID[step] if valid or step == "importer_done" else "error"
    assert operation(step, valid).state == ImportState(expected)


@pytest.mark.parametrize("step", list(EXPECTED_STATE_WHEN_VALID))
@pytest.mark.parametrize("valid", [True, False])
def test_personium_status_for_every_step_and_valid(step, valid):
    state = operation(step, valid).state
    if state in (ImportState.LOADING, ImportState.IMPORTING):
        expected = PersoniumStatus.IN_PROGRESS
    elif step == "importer_import_failed":
        expected = PersoniumStatus.FAILED
    else:
        expected = PersoniumStatus.READY
    assert operation(step, valid).personium_status is expected


def test_a_cleared_operation_reads_as_error_not_canceled():
    cleared = operation("importer_user_selection", valid=False)
    assert cleared.state is ImportState.ERROR
    assert not cleared.is_active


@pytest.mark.parametrize(
    ("completed", "error", "total", "percent"),
    [(0, 0, 0, 0), (0, 0, 10, 0), (1, 0, 3, 33), (150, 12, 200, 81), (199, 0, 200, 99), (190, 10, 200, 100)],
)
def test_percent_counts_completed_and_failed_records_rounded_down(completed, error, total, percent):
    assert Counts(total=total, completed=completed, error=error).percent == percent


def test_iso_millis_prints_utc_with_three_decimals_and_z():
    assert iso_millis(MOMENT) == "2017-02-13T09:00:00.123Z"
    assert iso_millis(datetime(2017, 2, 13, 9, 0, tzinfo=UTC)) == "2017-02-13T09:00:00.000Z"


def test_operation_ids_sort_by_creation_time():
    ids = [new_operation_id() for _ in range(50)]
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    # Same millisecond may repeat, so compare the time prefix.
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)


def test_counts_refuse_negative_values():
    with pytest.raises(ValueError):
        Counts(total=-1)

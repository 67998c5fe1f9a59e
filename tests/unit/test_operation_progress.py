"""Rate, ETA, stall and the events derived from two versions of an operation."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bulk_import.domain.events import EventType, events_between
from bulk_import.domain.operation import Counts, ImportOperation, ImportState, ProgressMark, ProgressStep

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def operation(step=ProgressStep.IMPORTING_USERS, completed=0, error=0, total=1000, **fields) -> ImportOperation:
    return ImportOperation(
        id="019a00000000000000000001",
        cell="acme",
        type="v1",
        importer_key="v1",
        step=step,
        started_at=T0,
        updated_at=fields.pop("updated_at", T0),
        user="op",
        count=Counts(total=total, users=total, completed=completed, error=error),
        **fields,
    )


def test_rate_is_records_per_second_from_the_oldest_mark_kept_to_the_last_heartbeat():
    running = operation(
        completed=500,
        error=100,
        heartbeat_at=T0 + timedelta(seconds=60),
        previous_mark=ProgressMark(at=T0, processed=0),
        mark=ProgressMark(at=T0 + timedelta(seconds=30), processed=300),
    )
    assert running.rate == 10.0  # 600 records in 60 s
    assert running.eta_seconds == 40  # 400 left at 10/s


def test_rate_uses_the_only_mark_before_there_are_two():
    running = operation(completed=150, heartbeat_at=T0 + timedelta(seconds=10), mark=ProgressMark(at=T0, processed=50))
    assert running.rate == 10.0 and running.eta_seconds == 85


def test_no_rate_or_eta_before_any_mark_and_no_eta_once_finished():
    assert operation(completed=10).rate is None and operation(completed=10).eta_seconds is None
    done = operation(
        step=ProgressStep.DONE,
        completed=1000,
        heartbeat_at=T0 + timedelta(seconds=5),
        mark=ProgressMark(at=T0, processed=0),
    )
    assert done.eta_seconds is None


def test_a_worker_that_stopped_moving_gives_a_rate_of_zero_and_no_eta():
    idle = operation(completed=100, heartbeat_at=T0 + timedelta(seconds=60), mark=ProgressMark(at=T0, processed=100))
    assert idle.rate == 0.0 and idle.eta_seconds is None


def test_stalled_means_active_with_a_heartbeat_older_than_the_limit():
    now = T0 + timedelta(minutes=11)
    assert operation(heartbeat_at=T0).is_stalled(now, timedelta(minutes=10))
    assert not operation(heartbeat_at=T0 + timedelta(minutes=2)).is_stalled(now, timedelta(minutes=10))
    assert not operation(step=ProgressStep.DONE, heartbeat_at=T0).is_stalled(now, timedelta(minutes=10))


def test_a_new_operation_is_one_state_change_event():
    (event,) = events_between(None, operation(step=ProgressStep.PREPARING_STARTED, total=0))
    assert (event.type, event.detail.state, event.detail.previousState) == (
        EventType.STATE_CHANGED,
        ImportState.LOADING,
        None,
    )


def test_replacing_the_latest_operation_announces_the_new_one():
    (event,) = events_between(
        replace(operation(step=ProgressStep.DONE, completed=1000), id="old"),
        operation(step=ProgressStep.PREPARING_STARTED),
    )
    assert event.detail.previousState is None and event.detail.id == "019a00000000000000000001"


def test_progress_events_come_each_time_a_tenth_is_passed():
    assert events_between(operation(completed=150), operation(completed=190)) == []
    (event,) = events_between(operation(completed=190), operation(completed=240))
    assert (event.type, event.detail.percent) == (EventType.PROGRESS, 20)
    # A jump over several tenths is one event, at the highest one passed.
    (event,) = events_between(operation(completed=240), operation(completed=580))
    assert event.detail.percent == 50


def test_finishing_is_a_state_change_with_the_previous_state_and_no_progress_event():
    (event,) = events_between(operation(completed=990), operation(step=ProgressStep.DONE, completed=1000))
    assert (event.type, event.detail.state, event.detail.previousState) == (
        EventType.STATE_CHANGED,
        ImportState.DONE,
        ImportState.IMPORTING,
    )


def test_a_write_that_changes_neither_state_nor_tenth_sends_nothing():
    assert events_between(operation(completed=10), operation(completed=10, execution_arn="arn:x")) == []

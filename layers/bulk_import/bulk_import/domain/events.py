"""Import events: what changed between two versions of an operation, as EventBridge events.

Derived from the table's stream (ImportEventsFunction), so every change is seen once, whoever
made it: the API, the worker or the sweeper. The schema is documented in docs/events.md.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from bulk_import.domain.operation import Counts, Failure, ImportOperation, ImportState, ProgressStep, iso_millis

SOURCE = "bulk-import"
#: A progress event is sent each time the percent processed passes a multiple of this.
PROGRESS_STEP_PERCENT = 10


class EventType(StrEnum):
    STATE_CHANGED = "Import State Changed"
    PROGRESS = "Import Progress"


class ImportEventDetail(BaseModel):
    """The `detail` of every import event."""

    id: str
    cell: str
    name: str | None
    state: ImportState
    previousState: ImportState | None
    step: ProgressStep
    parentId: str | None
    counts: Counts
    percent: int
    failure: Failure | None
    at: str


class ImportEvent(BaseModel):
    type: EventType
    detail: ImportEventDetail


def events_between(old: ImportOperation | None, new: ImportOperation) -> list[ImportEvent]:
    """The events of one change of a cell's latest operation (`old` None or another operation:
    `new` was just started)."""
    before = old if old is not None and old.id == new.id else None  # `old`, if it is the same operation as `new`
    events = []
    if before is None or before.state != new.state:
        events.append(
            _event(EventType.STATE_CHANGED, new, before.state if before is not None else None, new.count.percent)
        )
    if before is not None and new.is_active:
        passed = new.count.percent // PROGRESS_STEP_PERCENT
        if passed > before.count.percent // PROGRESS_STEP_PERCENT:
            events.append(_event(EventType.PROGRESS, new, None, passed * PROGRESS_STEP_PERCENT))
    return events


def _event(kind: EventType, operation: ImportOperation, previous: ImportState | None, percent: int) -> ImportEvent:
    return ImportEvent(
        type=kind,
        detail=ImportEventDetail(
            id=operation.id,
            cell=operation.cell,
            name=operation.importation_name,
            state=operation.state,
            previousState=previous,
            step=operation.step,
            parentId=operation.parent_id,
            counts=operation.count,
            percent=percent,
            failure=operation.failure,
            at=iso_millis(operation.updated_at),
        ),
    )

"""The inputs the state machine (statemachine/import.asl.json) gives each worker function."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, NonNegativeInt

from bulk_import.domain.operation import (
    CELL_NAME_PATTERN,
)
from bulk_import.domain.records.staged import RecordType

CellName = Annotated[str, Field(pattern=CELL_NAME_PATTERN)]


class OperationReference(BaseModel):
    cell: CellName
    id: str


class StageTask(BaseModel):
    operation: OperationReference
    #: The execution staging runs in (the state machine passes $$.Execution.Id).
    execution: str | None = None


class BatchDescriptor(BaseModel):
    """Which batch of which operation to import: what a child's ImportGroup Map gives the batch
    function for each batch of its manifest item (a group: cell, operationId, type, batches)."""

    cell: CellName
    operationId: str
    type: RecordType
    batch: NonNegativeInt


class BatchTask(BaseModel):
    batch: BatchDescriptor


class PhaseTask(BaseModel):
    operation: OperationReference
    phase: Literal["channels", "messages", "done", "failed", "await-selection"]
    error: dict[str, str] | None = None
    #: AwaitSelection's task token ($$.Task.Token), which startImport sends back.
    token: str | None = None

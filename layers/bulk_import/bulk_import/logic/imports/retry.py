"""Retrying an operation's failed records, with corrections for those the client fixed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.record_items import BatchOutcome
from bulk_import.dal.s3 import ImportFiles, corrections_key
from bulk_import.domain.importers import emails_required
from bulk_import.domain.operation import (
    BATCH_SIZE,
    ImportOperation,
    ImportState,
    ProgressStep,
)
from bulk_import.domain.records.schema import RecordInvalid, parse_record
from bulk_import.domain.records.staged import COUNT_FIELD
from bulk_import.logic.imports.errors import InvalidCorrections, NotRetryable
from bulk_import.logic.imports.launch import (
    UNREAD,
    Executions,
    Latest,
    idle_latest,
    new_operation,
    replace_latest,
    start_worker,
)


def retry(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    parent: ImportOperation,
    corrections: dict[str, dict[str, Any]],
    user: str,
    *,
    latest: Latest = UNREAD,
    outcomes: dict[str, dict[int, BatchOutcome]] | None = None,
) -> ImportOperation:
    """Starts a new operation, linked to `parent`, that imports only the records `parent` counted
    as errors (those that failed, and those a cancel, clear or failure left unprocessed), replacing
    those named in `corrections` (`user:12` -> fixed record). `outcomes` are parent's markers of
    `correction_batches(corrections)`, if the caller read them (else they are read here).

    Only the cell's latest operation, once it has ended, can be retried: then every record it counted
    as an error is still in its staging area, so parent.completed + child.total == parent.total, and
    no record is retried twice. A parent that ended early may not have settled its counts yet: the
    retry starts at once and waits for them before it stages (worker.stage_input).
    """
    if parent.is_active or parent.state in (ImportState.NEW, ImportState.READY):
        raise NotRetryable(f"The import is {parent.state.value}; only an import that has ended can be retried.")
    if parent.count.completed == parent.count.total:
        raise NotRetryable("No record of this import failed.")
    latest = idle_latest(store, parent.cell, latest)
    if latest is None or latest.id != parent.id:
        raise NotRetryable("A newer import of this cell exists; only the latest one can be retried.")
    _check_corrections(store, parent, corrections, outcomes)
    child = new_operation(
        parent.cell,
        user,
        parent.importer_key,
        ProgressStep.PREPARING_STARTED,
        type_name=parent.type,
        importation_name=parent.importation_name,
        parent_id=parent.id,
    )
    if corrections:
        source_key = corrections_key(parent.cell, child.id)
        child = replace(child, source_key=source_key)
        files.put(source_key, json.dumps(corrections).encode())
    return start_worker(store, executions, replace_latest(store, child, latest))


def correction_batches(corrections: Mapping[str, Any]) -> dict[str, list[int]]:
    """The batches, by record type, of the records `corrections` names (what is not a record id
    left out): their markers tell whether each record failed."""
    batches: dict[str, set[int]] = {}
    for record_type, seq in filter(None, map(_record_id, corrections)):
        batches.setdefault(record_type, set()).add(seq // BATCH_SIZE)
    return {record_type: sorted(numbers) for record_type, numbers in batches.items()}


def _record_id(name: str) -> tuple[str, int] | None:
    """`user:12` as ("user", 12); None if `name` is not a record id."""
    record_type, _, seq = name.partition(":")
    return (record_type, int(seq)) if record_type in COUNT_FIELD and seq.isdigit() else None


def _check_corrections(
    store: ImportStore,
    parent: ImportOperation,
    corrections: dict[str, dict[str, Any]],
    outcomes: dict[str, dict[int, BatchOutcome]] | None,
) -> None:
    """Each correction must name a record `parent` counted as an error (its batch's marker lists
    it, or the batch was never counted) and be a valid record itself."""
    problems = []
    named: dict[str, list[int]] = {}
    for record_id, data in corrections.items():
        if (parsed := _record_id(record_id)) is None:
            problems.append(f"{record_id}: not a record id (such as user:12)")
            continue
        record_type, seq = parsed
        named.setdefault(record_type, []).append(seq)
        try:
            parse_record(record_type, data, emails_required=emails_required(parent.importer_key))
        except RecordInvalid as exc:
            problems.append(f"{record_id}: {exc}")
    if outcomes is None:
        outcomes = {
            record_type: store.batch_outcomes(parent.id, record_type, batches)
            for record_type, batches in correction_batches(corrections).items()
        }
    for record_type, seqs in named.items():
        counted = outcomes[record_type]
        problems += [
            f"{record_type}:{seq}: not a failed record of {parent.id}"
            for seq in seqs
            if seq >= getattr(parent.count, COUNT_FIELD[record_type])
            or (seq // BATCH_SIZE in counted and seq not in counted[seq // BATCH_SIZE].failed)
        ]
    if problems:
        raise InvalidCorrections(problems)

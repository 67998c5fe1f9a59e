"""Rocket.Chat's file importers (csv, slack, slack-users) in its administration page's three calls:
uploadImportFile stores the file and prepares it (the worker stages it, then waits), or
downloadPublicImportFile has the worker download it from a public URL first; getImportFileData
answers what can be selected (logic/selections.py), startImport resumes the worker with the selection
(docs/worker.md, "Rocket.Chat's file importers"). And downloadPendingFiles and downloadPendingAvatars,
which fetch what those imports left to download."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.operation_items import OperationConflict
from bulk_import.dal.s3 import ImportFiles, new_upload_id, selection_key, upload_prefix
from bulk_import.domain.importers import Importer, waits_for_selection
from bulk_import.domain.operation import ACTIVE_STEPS, ImportOperation, ProgressStep, download_failure, utc_now
from bulk_import.logic.imports.errors import ImportServiceError
from bulk_import.logic.imports.launch import (
    UNREAD,
    Executions,
    Latest,
    idle_latest,
    new_operation,
    replace_latest,
    start_worker,
)
from bulk_import.logic.imports.rocketchat import INVALID_OPERATION_STATUS
from bulk_import.logic.imports.stop import stop

if TYPE_CHECKING:
    from bulk_import.dal.public_urls import PublicDownloads


def stored_file_name(user: str, file_name: str, now: datetime) -> str:
    """The name Rocket.Chat stores an uploaded file under: `<Y><M0><D><h><m><s>_<userId>_<fileName>`,
    in UTC, the month counted from 0 and nothing padded (uploadImportFile.ts)."""
    moment = f"{now.year}{now.month - 1}{now.day}{now.hour}{now.minute}{now.second}"
    return f"{moment}_{user}_{file_name}"


#: The longest file URL downloadPublicImportFile takes (the operation's item keeps it: 400 KB at most),
#: and the longest file name taken from it (an S3 key is 1,024 bytes at most).
MAX_URL_LENGTH = 8192
MAX_FILE_NAME_LENGTH = 255


def _file_operation(
    cell: str, user: str, importer: Importer, step: ProgressStep, name: str, **fields: Any
) -> ImportOperation:
    """A new operation of a file importer, of the file stored under `name`."""
    return new_operation(cell, user, importer.key, step, type_name=importer.name, importation_name=name, **fields)


def upload_import_file(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    cell: str,
    user: str,
    importer: Importer,
    file_name: str,
    content: bytes,
    *,
    latest: Latest = UNREAD,
) -> ImportOperation:
    """uploadImportFile: clears whatever runs (Import.newOperation), stores the file and starts the
    worker, which prepares it and then waits in importer_user_selection for startImport."""
    latest = idle_latest(store, cell, stop(store, executions, cell, clear=True, latest=latest))
    name = stored_file_name(user, file_name, utc_now())
    key = upload_prefix(cell, new_upload_id()) + name
    etag = files.put(key, content)
    operation = _file_operation(cell, user, importer, ProgressStep.FILE_LOADED, name, source_key=key, source_etag=etag)
    return start_worker(store, executions, replace_latest(store, operation, latest))


def download_public_import_file(
    store: ImportStore,
    executions: Executions,
    downloads: PublicDownloads,
    cell: str,
    user: str,
    importer: Importer,
    file_url: str,
    *,
    latest: Latest = UNREAD,
) -> ImportOperation:
    """downloadPublicImportFile: clears whatever runs, records a new operation downloading the file,
    then requests the URL (its target checked, its status and length read, its body left) and answers
    as Rocket.Chat does once its fetch has answered: a refused or failed request fails the operation
    and is refused with Rocket.Chat's message (ImportServiceError). Otherwise the worker downloads
    it into the bucket (logic/worker/download.py), then prepares it as an uploaded file.
    docs/decisions/0007-public-downloads.md says why the URL is requested twice."""
    # Imported here: the other routes of the importer's function never fetch a URL (cold starts).
    from bulk_import.dal.public_urls import FetchFailed, SsrfValidationFailed

    if len(file_url) > MAX_URL_LENGTH:
        raise ImportServiceError(f"The file URL is longer than {MAX_URL_LENGTH} characters.")
    latest = idle_latest(store, cell, stop(store, executions, cell, clear=True, latest=latest))
    # Rocket.Chat's name: what follows the last slash, without the query.
    file_name = file_url[file_url.rfind("/") + 1 :].split("?")[0][-MAX_FILE_NAME_LENGTH:]
    name = stored_file_name(user, file_name, utc_now())
    operation = replace_latest(
        store, _file_operation(cell, user, importer, ProgressStep.DOWNLOADING_FILE, name, source_url=file_url), latest
    )
    try:
        downloads.check(file_url)
    except (SsrfValidationFailed, FetchFailed) as error:
        try:
            store.update_operation(
                operation,
                from_steps=frozenset({ProgressStep.DOWNLOADING_FILE}),
                step=ProgressStep.IMPORT_FAILED,
                failure=download_failure(str(error)),
            )
        except OperationConflict:
            pass  # replaced or cleared meanwhile: it ended anyway
        raise ImportServiceError(str(error)) from error
    return start_worker(store, executions, operation)


def download_pending(
    store: ImportStore,
    executions: Executions,
    cell: str,
    user: str,
    importer: Importer,
    *,
    latest: Latest = UNREAD,
) -> int:
    """downloadPendingFiles and downloadPendingAvatars: clears whatever runs (Import.newOperation),
    counts the downloads the cell's imported entries left (domain/downloads.py) and starts the worker
    on them, which stages them and downloads them in batches (logic/worker/pending_downloads.py).
    With none, the operation is done at once, as Rocket.Chat's is. Answers the count."""
    assert importer.downloads is not None
    latest = idle_latest(store, cell, stop(store, executions, cell, clear=True, latest=latest))
    count = store.count_pending_downloads(cell, importer.downloads)
    if count == 0:
        done = new_operation(
            cell, user, importer.key, ProgressStep.DONE, type_name=importer.name, finished_at=utc_now()
        )
        replace_latest(store, done, latest)
        return 0
    operation = new_operation(cell, user, importer.key, ProgressStep.PREPARING_STARTED, type_name=importer.name)
    start_worker(store, executions, replace_latest(store, operation, latest))
    return count


def start_selected_import(
    store: ImportStore,
    files: ImportFiles,
    executions: Executions,
    operation: ImportOperation,
    selection: dict[str, Any],
) -> None:
    """startImport: records the selection where the batches read it, moves the operation from
    importer_user_selection to importing its users, and lets the worker's execution go on (it waits
    in AwaitSelection). If the execution has not recorded its task token yet, it finds the operation
    moved and goes on by itself (worker.phase.await_selection).

    The token stays on the operation until the execution has been let go: a startImport that died
    in between is finished by the client's next startImport, which finds the operation moved with
    the token still there (sending it twice is harmless), or by the sweeper."""
    if (
        operation.step == ProgressStep.IMPORTING_USERS
        and operation.valid
        and operation.selection_token is not None
        and waits_for_selection(operation.importer_key, operation.parent_id)
    ):
        let_go_of_selection(store, executions, operation, operation.selection_token)
        return
    # Only a prepared file waits for a selection: the API importer's users are run by import.run.
    if (
        operation.step != ProgressStep.USER_SELECTION
        or not operation.valid
        or not waits_for_selection(operation.importer_key, operation.parent_id)
    ):
        raise ImportServiceError(INVALID_OPERATION_STATUS)
    files.put(selection_key(operation.id), json.dumps(selection, separators=(",", ":")).encode())
    try:
        before = store.update_operation(
            operation,
            from_steps=frozenset({ProgressStep.USER_SELECTION}),
            step=ProgressStep.IMPORTING_USERS,
            heartbeat=True,
            return_old=True,
        )
    except OperationConflict as exc:
        raise ImportServiceError(INVALID_OPERATION_STATUS) from exc
    if before.selection_token is not None:
        let_go_of_selection(store, executions, before, before.selection_token)


def let_go_of_selection(store: ImportStore, executions: Executions, operation: ImportOperation, token: str) -> None:
    """Sends the execution waiting for the selection its task token, then forgets the token (every
    batch count rewrites the operation's item: its size is what a write costs). A forget that finds
    the operation moved on or ended leaves the token: it only costs its bytes."""
    executions.resume(token)
    try:
        store.update_operation(operation, from_steps=ACTIVE_STEPS, forget_selection_token=True)
    except OperationConflict:
        pass

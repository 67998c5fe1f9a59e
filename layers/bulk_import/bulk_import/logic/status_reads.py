"""Status reads: authorize and fetch, one store request each (the history listings take two; Rocket.Chat's
sends both at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.table import Page
from bulk_import.domain.credentials import (
    ApiPermission,
    Permission,
    authorize_rocketchat_user,
)
from bulk_import.domain.errors import InvalidCursor
from bulk_import.domain.operation import ImportOperation, ImportState
from bulk_import.domain.records.staged import StagedRecord
from bulk_import.logic.authorization import (
    StatusStore,
    api_credential,
    api_operation,
    read_as_root,
    rocketchat_login,
)

#: Rocket.Chat's getLatestImportOperations returns at most this many operations.
LATEST_OPERATIONS_LIMIT = 20


def cell_import_status(
    store: StatusStore, cell: str, token: str | None, cookie_peer: str | None = None
) -> ImportOperation | None:
    """The cell's latest operation, for a caller holding a root token of that cell."""
    return read_as_root(store, cell, token, cookie_peer)[1].latest


def rocketchat_latest_operations(
    store: StatusStore,
    cell: str,
    user_id: str | None,
    auth_token: str | None,
    authorized: Callable[[], None] = lambda: None,
) -> list[ImportOperation]:
    """Up to 20 operations, newest `_updatedAt` first, for a user with view-import-operations.
    `authorized` runs once the caller is (Rocket.Chat checks the query there) and may refuse."""
    user, operations = store.read_rocketchat_history(
        cell, rocketchat_login(user_id, auth_token), LATEST_OPERATIONS_LIMIT
    )
    authorize_rocketchat_user(user, auth_token=auth_token, permission=Permission.VIEW_IMPORT_OPERATIONS)
    authorized()
    return sorted(operations, key=lambda operation: operation.updated_at, reverse=True)


def api_operations(
    store: ImportStore,
    cell: str,
    token: str | None,
    limit: int,
    after: dict[str, Any] | None,
    state: ImportState | None,
) -> Page[ImportOperation]:
    """A page of the cell's history, newest first (two requests: the credential, the Query)."""
    api_credential(store, cell, token, ApiPermission.READ)
    return store.operations(cell, limit, _owned(after, PK=f"CELL#{cell}"), state)


def api_failed_records(
    store: ImportStore, cell: str, operation_id: str, token: str | None, limit: int, after: dict[str, Any] | None
) -> Page[StagedRecord]:
    """A page of an operation's failed records (two requests: the operation with the credential,
    then the Query)."""
    api_operation(store, cell, operation_id, token)
    return store.failed_records(operation_id, limit, _owned(after, failedOf=operation_id))


def _owned(after: dict[str, Any] | None, **expected: str) -> dict[str, Any] | None:
    """A cursor's start key, if it belongs to this listing: a key of another would read elsewhere."""
    if after is not None and any(after.get(name) != value for name, value in expected.items()):
        raise InvalidCursor
    return after

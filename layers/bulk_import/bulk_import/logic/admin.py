"""Operator actions: issuing credentials (creating the cell on first use)."""

from __future__ import annotations

from typing import Any

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.domain.credentials import (
    ApiPermission,
    IssuedApiCredential,
    IssuedCellToken,
    IssuedRocketChatCredential,
    Permission,
    issue_api_credential,
    issue_cell_token,
    issue_rocketchat_credential,
)


def create_cell_token(store: ImportStore, cell: str, *, root: bool, **options: Any) -> IssuedCellToken:
    """Issues a cell token; `options` are issue_cell_token's (lifetime, fixed demo secrets)."""
    stored, shown = issue_cell_token(cell, root=root, **options)
    store.put_cell(cell)
    store.put_cell_token(stored)
    return shown


def create_rocketchat_credential(
    store: ImportStore, cell: str, user_id: str, permissions: list[Permission], token: str | None = None
) -> IssuedRocketChatCredential:
    stored, shown = issue_rocketchat_credential(cell, user_id, permissions, token)
    store.put_cell(cell)
    store.put_rocketchat_user(stored)
    return shown


def create_api_credential(
    store: ImportStore, cell: str, permissions: list[ApiPermission], **options: Any
) -> IssuedApiCredential:
    """Issues a /v1 credential; `options` are issue_api_credential's (name, lifetime, fixed demo token)."""
    stored, shown = issue_api_credential(cell, permissions, **options)
    store.put_cell(cell)
    store.put_api_credential(stored)
    return shown

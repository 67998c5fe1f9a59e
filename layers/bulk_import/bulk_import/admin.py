"""Operator actions: issuing credentials (creating the cell on first use)."""

from __future__ import annotations

from bulk_import.credentials import (
    IssuedCellToken,
    IssuedRocketChatCredential,
    Permission,
    issue_cell_token,
    issue_rocketchat_credential,
)
from bulk_import.storage import ImportStore


def create_cell_token(store: ImportStore, cell: str, *, root: bool) -> IssuedCellToken:
    stored, shown = issue_cell_token(cell, root=root)
    store.put_cell(cell)
    store.put_cell_token(stored)
    return shown


def create_rocketchat_credential(
    store: ImportStore, cell: str, user_id: str, permissions: list[Permission]
) -> IssuedRocketChatCredential:
    stored, shown = issue_rocketchat_credential(cell, user_id, permissions)
    store.put_cell(cell)
    store.put_rocketchat_user(stored)
    return shown

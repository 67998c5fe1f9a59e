"""DynamoDB single-table storage. Knows items and keys; knows nothing of HTTP or dialects.

Each kind of item is in its own module, named after the items it holds, with their keys, their
attribute names and their index (docs/data-model.md has the whole schema): cells and operations
(operation_items.py), staged and failed records and batch markers (record_items.py), the imported
users, channels and messages (directory_items.py), credentials (credential_items.py); attributes.py
names the keys and builds expressions, table.py sends the requests. ImportStore is all of them, and
the reads that fetch a credential with the operation it asks for in one request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from botocore.config import Config

from bulk_import.concurrency import map_all
from bulk_import.dal import aws_clients
from bulk_import.dal.dynamodb.credential_items import (
    CredentialItems,
    api_credential_in,
    api_credential_key,
    cell_token_from_item,
    cell_token_key,
    rocketchat_user_from_item,
    rocketchat_user_key,
)
from bulk_import.dal.dynamodb.directory_items import DirectoryItems
from bulk_import.dal.dynamodb.operation_items import (
    OperationItems,
    cell_created_at,
    cell_key,
    keyed_start_from_item,
    latest_operation_key,
    operation_from_item,
    start_key_key,
)
from bulk_import.dal.dynamodb.record_items import BatchOutcome, batch_marker_key, outcomes_in
from bulk_import.dal.dynamodb.table import REQUESTS
from bulk_import.domain import deadline
from bulk_import.domain.credentials import ApiCredential, CellToken, RocketChatUser
from bulk_import.domain.operation import ImportOperation, KeyedStart
from bulk_import.settings import get_settings


@dataclass(frozen=True)
class CellStatusRead:
    """Everything a Personium status read needs, fetched in one request."""

    #: When the cell was created; None if there is no such cell.
    cell_created_at: datetime | None
    token: CellToken | None
    latest: ImportOperation | None

    @property
    def cell_exists(self) -> bool:
        return self.cell_created_at is not None


@dataclass(frozen=True)
class OperationRead:
    """Everything a /v1 read of one operation needs, fetched in one request, with the cell's latest
    operation (what a cancel or a retry of it decides on)."""

    credential: ApiCredential | None
    operation: ImportOperation | None
    latest: ImportOperation | None
    #: The operation's batch markers asked for, by record type and batch: those counted.
    outcomes: dict[str, dict[int, BatchOutcome]]


@dataclass(frozen=True)
class ApiCellRead:
    """Everything a /v1 start needs, fetched in one request: the caller's credential, the cell's
    latest operation and what a start with the request's Idempotency-Key recorded, if one did."""

    credential: ApiCredential | None
    latest: ImportOperation | None
    keyed: KeyedStart | None


@dataclass(frozen=True)
class RocketChatStatusRead:
    """Everything a Rocket.Chat status read needs, fetched in one request."""

    user: RocketChatUser | None
    latest: ImportOperation | None


class ImportStore(OperationItems, DirectoryItems, CredentialItems):
    """The table, named by intent. One method, one DynamoDB request unless its docstring says otherwise."""

    def read_cell_status(self, cell: str, token_hash: str | None) -> CellStatusRead:
        keys = [cell_key(cell), latest_operation_key(cell)]
        if token_hash is not None:
            keys.append(cell_token_key(token_hash))
        found = self._batch_get(keys)
        token_item = found.get(tuple(cell_token_key(token_hash).values())) if token_hash else None
        cell_item = found.get(tuple(cell_key(cell).values()))
        return CellStatusRead(
            cell_created_at=cell_created_at(cell_item) if cell_item is not None else None,
            token=cell_token_from_item(token_hash, token_item) if token_hash and token_item else None,
            latest=_latest_in(found, cell),
        )

    def read_rocketchat_status(self, cell: str, user_id: str) -> RocketChatStatusRead:
        found = self._batch_get([rocketchat_user_key(cell, user_id), latest_operation_key(cell)])
        user_item = found.get(tuple(rocketchat_user_key(cell, user_id).values()))
        return RocketChatStatusRead(
            user=rocketchat_user_from_item(cell, user_id, user_item) if user_item else None,
            latest=_latest_in(found, cell),
        )

    def read_rocketchat_history(
        self, cell: str, user_id: str, limit: int
    ) -> tuple[RocketChatUser | None, list[ImportOperation]]:
        """A Rocket.Chat user and the cell's `limit` newest operations: a BatchGetItem and a Query,
        in flight together, so that a poll of the history waits for one round trip, not two. The
        operations are read before the user is authorized: the caller drops them unless it is."""
        user_key = rocketchat_user_key(cell, user_id)
        reads: list[Callable[[], Any]] = [
            lambda: self._batch_get([user_key]),
            lambda: self.latest_operations(cell, limit),
        ]
        found, operations = map_all(REQUESTS, lambda read: read(), reads)
        user_item = found.get(tuple(user_key.values()))
        return (rocketchat_user_from_item(cell, user_id, user_item) if user_item else None), operations

    def read_operation(
        self, cell: str, operation_id: str, token_hash: str, batches: Mapping[str, Sequence[int]] | None = None
    ) -> OperationRead:
        """A /v1 credential and one operation of the cell, wherever it is stored, and the markers of
        its `batches` (by record type) if asked: one BatchGetItem (one per 100 keys)."""
        batches = batches or {}
        markers = [
            batch_marker_key(operation_id, kind, batch) for kind, numbers in batches.items() for batch in numbers
        ]
        operation, found = self._operation_of(cell, operation_id, (api_credential_key(token_hash), *markers))
        return OperationRead(
            credential=api_credential_in(found, token_hash),
            operation=operation,
            latest=_latest_in(found, cell),
            outcomes={kind: outcomes_in(found, operation_id, kind, numbers) for kind, numbers in batches.items()},
        )

    def read_api_cell(self, cell: str, token_hash: str, key_hash: str | None = None) -> ApiCellRead:
        """A /v1 credential, the cell's latest operation and, given `key_hash`, what the start with
        that Idempotency-Key recorded (one BatchGetItem)."""
        keys = [api_credential_key(token_hash), latest_operation_key(cell)]
        found = self._batch_get([*keys, start_key_key(cell, key_hash)] if key_hash else keys)
        keyed = found.get(tuple(start_key_key(cell, key_hash).values())) if key_hash else None
        return ApiCellRead(
            credential=api_credential_in(found, token_hash),
            latest=_latest_in(found, cell),
            keyed=keyed_start_from_item(keyed) if keyed else None,
        )


def _latest_in(found: dict[tuple[str, ...], dict[str, Any]], cell: str) -> ImportOperation | None:
    item = found.get(tuple(latest_operation_key(cell).values()))
    return operation_from_item(item) if item else None


@lru_cache(maxsize=1)
def default_store() -> ImportStore:
    """The store for this process, created once so the client survives warm invocations.

    The endpoint comes from boto3's own configuration (AWS_ENDPOINT_URL in the local stack).
    """
    settings = get_settings()
    # botocore's standard mode retries throttling, 5xx and connection errors, each attempt bounded by
    # the timeouts; the store adds what botocore does not retry. The arithmetic: domain/deadline.py.
    client = aws_clients.client(
        "dynamodb",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": deadline.BOTOCORE_ATTEMPTS},
            connect_timeout=deadline.CONNECT_TIMEOUT_SECONDS,
            read_timeout=deadline.READ_TIMEOUT_SECONDS,
        ),
    )
    return ImportStore(settings.table_name, client, timedelta(days=settings.retention_days))

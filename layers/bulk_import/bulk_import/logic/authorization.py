"""Authorizing a request in the same single store request that reads what it needs (the cell's latest
operation, an operation, an Idempotency-Key's start): the status reads and the writes of every dialect."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bulk_import.dal.dynamodb import CellStatusRead, ImportStore, RocketChatStatusRead
from bulk_import.dal.dynamodb.record_items import BatchOutcome
from bulk_import.domain.credentials import (
    ApiCredential,
    ApiPermission,
    CellToken,
    Permission,
    RocketChatUser,
    authorize_api,
    authorize_cell_root,
    authorize_rocketchat_user,
    secret_hash,
)
from bulk_import.domain.errors import AuthenticationRequired, CellNotFound, OperationNotFound
from bulk_import.domain.operation import ImportOperation, KeyedStart


class StatusStore(Protocol):
    def read_cell_status(self, cell: str, token_hash: str | None) -> CellStatusRead: ...
    def read_rocketchat_status(self, cell: str, user_id: str) -> RocketChatStatusRead: ...
    def read_rocketchat_history(
        self, cell: str, user_id: str, limit: int
    ) -> tuple[RocketChatUser | None, list[ImportOperation]]: ...


def read_as_root(
    store: StatusStore,
    cell: str,
    token: str | None,
    cookie_peer: str | None,
    before_authorization: Callable[[CellStatusRead], None] | None = None,
) -> tuple[CellToken, CellStatusRead]:
    """The caller's token, if it holds root on the cell, and what the one request read.
    `before_authorization` may refuse the request once the cell is known, before the token is
    checked: Personium refuses a write to a cell being imported, and looks a __snapshot file up,
    before it looks at the caller's rights."""
    # As in Personium, an unknown cell is reported before authentication.
    read = store.read_cell_status(cell, secret_hash(token) if token else None)
    if not read.cell_exists:
        raise CellNotFound(cell)
    if before_authorization is not None:
        before_authorization(read)
    if token is None:
        raise AuthenticationRequired
    return authorize_cell_root(read.token, cell=cell, cookie_peer=cookie_peer), read


def authorize_cell_root_request(
    store: StatusStore, cell: str, token: str | None, cookie_peer: str | None = None
) -> tuple[CellToken, ImportOperation | None]:
    """The caller's token, if it holds root on the cell, and the cell's latest operation (the same
    single request as a status read)."""
    token_found, read = read_as_root(store, cell, token, cookie_peer)
    return token_found, read.latest


def authorize_rocketchat_request(
    store: StatusStore, cell: str, user_id: str | None, auth_token: str | None, permission: Permission
) -> ImportOperation | None:
    """The cell's latest operation, if the caller is a logged-in Rocket.Chat user with `permission`."""
    read = store.read_rocketchat_status(cell, rocketchat_login(user_id, auth_token))
    authorize_rocketchat_user(read.user, auth_token=auth_token, permission=permission)
    return read.latest


def rocketchat_login(user_id: str | None, auth_token: str | None) -> str:
    """The user id of a request that presents both Rocket.Chat login headers; refused before any read
    otherwise."""
    if not user_id or not auth_token:
        raise AuthenticationRequired
    return user_id


def api_credential(store: ImportStore, cell: str, token: str | None, permission: ApiPermission) -> ApiCredential:
    """The caller's /v1 credential, if it may do `permission` in `cell` (one request)."""
    if not token:
        raise AuthenticationRequired
    return authorize_api(store.read_api_credential(secret_hash(token)), cell=cell, permission=permission)


@dataclass(frozen=True)
class AuthorizedCell:
    credential: ApiCredential
    #: The cell's latest operation, read in the same request.
    latest: ImportOperation | None
    #: What the start with the request's Idempotency-Key recorded, if asked and one did.
    keyed: KeyedStart | None


def api_cell(
    store: ImportStore, cell: str, token: str | None, permission: ApiPermission, key_hash: str | None = None
) -> AuthorizedCell:
    """The caller's /v1 credential, if it may do `permission` in `cell`, the cell's latest
    operation and what the start with Idempotency-Key `key_hash` recorded (one request)."""
    if not token:
        raise AuthenticationRequired
    read = store.read_api_cell(cell, secret_hash(token), key_hash)
    return AuthorizedCell(authorize_api(read.credential, cell=cell, permission=permission), read.latest, read.keyed)


@dataclass(frozen=True)
class AuthorizedOperation:
    credential: ApiCredential
    operation: ImportOperation
    #: The cell's latest operation, read in the same request (`operation` itself, if it is the latest).
    latest: ImportOperation | None
    #: The operation's batch markers asked for (`batches`), read in the same request.
    outcomes: dict[str, dict[int, BatchOutcome]]


def api_operation(
    store: ImportStore,
    cell: str,
    operation_id: str,
    token: str | None,
    permission: ApiPermission = ApiPermission.READ,
    batches: Mapping[str, Sequence[int]] | None = None,
) -> AuthorizedOperation:
    """The caller's credential and one operation of the cell, if the caller may do `permission`
    there, the cell's latest operation and the operation's markers of `batches` (one request, auth
    included)."""
    if not token:
        raise AuthenticationRequired
    read = store.read_operation(cell, operation_id, secret_hash(token), batches)
    credential = authorize_api(read.credential, cell=cell, permission=permission)
    if read.operation is None:
        raise OperationNotFound(operation_id)
    return AuthorizedOperation(credential, read.operation, read.latest, read.outcomes)

"""Credentials: issued by an operator, stored as hashes, checked without a second read.

Secrets are 256-bit random values, so a plain SHA-256 is a safe storage form and a safe lookup key
(no salt or slow hash is needed against guessing). The raw secret is printed once and never stored.
Dataclasses, not pydantic, for the cold start of every API function (bulk_import.domain.operation says why).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bulk_import.domain.errors import AuthenticationRequired, CredentialExpired, InvalidCredential, PermissionDenied
from bulk_import.domain.operation import utc_now, valid_cell_name

DEFAULT_TOKEN_LIFETIME = timedelta(hours=24)


class Permission(StrEnum):
    """Rocket.Chat permissions the import routes check."""

    RUN_IMPORT = "run-import"
    VIEW_IMPORT_OPERATIONS = "view-import-operations"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """43 url-safe characters, the shape of a Rocket.Chat auth token."""
    return secrets.token_urlsafe(32)


class ApiPermission(StrEnum):
    """What a /v1 credential may do in its cell."""

    READ = "imports:read"
    WRITE = "imports:write"


@dataclass(frozen=True)
class ApiCredential:
    """A /v1 bearer credential: scoped to one cell, with permissions, stored under its hash."""

    token_hash: str
    cell: str
    permissions: frozenset[ApiPermission]
    name: str
    expires_at: datetime


class Issued:
    """What the operator is shown once, as JSON."""

    def to_json(self) -> dict[str, Any]:
        return {
            name: value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
            for name, value in dataclasses.asdict(self).items()  # type: ignore[call-overload]
        }


@dataclass(frozen=True)
class IssuedApiCredential(Issued):
    token: str
    cell: str
    permissions: list[ApiPermission]
    name: str
    expires_at: datetime


#: /v1 tokens start with this, so a leaked one is recognisable (secret scanners, logs).
API_TOKEN_PREFIX = "bi_"
DEFAULT_API_CREDENTIAL_LIFETIME = timedelta(days=90)


@dataclass(frozen=True)
class CellToken:
    """A Personium access token for one cell, stored under the hash of the token."""

    token_hash: str
    cell: str
    root: bool
    subject: str
    expires_at: datetime
    # Personium's cookie authentication: the p_cookie cookie carries the token and the
    # p_cookie_peer query parameter must match the peer issued with it.
    cookie_peer_hash: str


@dataclass(frozen=True)
class RocketChatUser:
    """A Rocket.Chat user's auth token and permissions, stored per cell under the user id."""

    user_id: str
    cell: str
    token_hash: str
    permissions: frozenset[Permission]


@dataclass(frozen=True, kw_only=True)
class IssuedCellToken(Issued):
    """Personium's token response fields."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    p_cookie_peer: str
    cell: str
    root: bool


@dataclass(frozen=True)
class IssuedRocketChatCredential(Issued):
    userId: str
    authToken: str
    cell: str
    permissions: list[Permission]


def issue_cell_token(
    cell: str,
    *,
    root: bool,
    subject: str = "operator",
    lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
    token: str | None = None,
    peer: str | None = None,
) -> tuple[CellToken, IssuedCellToken]:
    """Issues a token; `token`/`peer` fix the secrets instead of drawing them (demo data only)."""
    valid_cell_name(cell)
    token, peer = token or new_secret(), peer or new_secret()
    stored = CellToken(
        token_hash=secret_hash(token),
        cell=cell,
        root=root,
        subject=subject,
        expires_at=utc_now() + lifetime,
        cookie_peer_hash=secret_hash(peer),
    )
    shown = IssuedCellToken(
        access_token=token, expires_in=int(lifetime.total_seconds()), p_cookie_peer=peer, cell=cell, root=root
    )
    return stored, shown


def issue_rocketchat_credential(
    cell: str, user_id: str, permissions: list[Permission], token: str | None = None
) -> tuple[RocketChatUser, IssuedRocketChatCredential]:
    valid_cell_name(cell)
    if not user_id:
        raise ValueError("a Rocket.Chat user id is required")
    token = token or new_secret()
    stored = RocketChatUser(
        user_id=user_id, cell=cell, token_hash=secret_hash(token), permissions=frozenset(permissions)
    )
    shown = IssuedRocketChatCredential(userId=user_id, authToken=token, cell=cell, permissions=sorted(permissions))
    return stored, shown


def issue_api_credential(
    cell: str,
    permissions: list[ApiPermission],
    *,
    name: str = "operator",
    lifetime: timedelta = DEFAULT_API_CREDENTIAL_LIFETIME,
    token: str | None = None,
) -> tuple[ApiCredential, IssuedApiCredential]:
    valid_cell_name(cell)
    token = token or API_TOKEN_PREFIX + new_secret()
    expires_at = utc_now() + lifetime
    stored = ApiCredential(
        token_hash=secret_hash(token), cell=cell, permissions=frozenset(permissions), name=name, expires_at=expires_at
    )
    shown = IssuedApiCredential(
        token=token, cell=cell, permissions=sorted(permissions), name=name, expires_at=expires_at
    )
    return stored, shown


def authorize_api(
    stored: ApiCredential | None, *, cell: str, permission: ApiPermission, now: datetime | None = None
) -> ApiCredential:
    """A /v1 request's check: a known, unexpired credential of this cell with `permission`."""
    if stored is None:
        raise InvalidCredential
    if stored.expires_at <= (now or utc_now()):
        raise CredentialExpired
    if stored.cell != cell or permission not in stored.permissions:
        raise PermissionDenied
    return stored


def authorize_cell_root(
    stored: CellToken | None, *, cell: str, cookie_peer: str | None = None, now: datetime | None = None
) -> CellToken:
    """Personium's ROOT privilege check for `cell`, given the record found for the presented token.

    `cookie_peer` is set when the token came from the p_cookie cookie; it must match the peer
    issued with the token.
    """
    if stored is None:
        raise InvalidCredential
    if cookie_peer is not None and not hmac.compare_digest(stored.cookie_peer_hash, secret_hash(cookie_peer)):
        raise InvalidCredential
    if stored.expires_at <= (now or utc_now()):
        raise CredentialExpired
    if stored.cell != cell or not stored.root:
        raise PermissionDenied
    return stored


def authorize_rocketchat_user(
    stored: RocketChatUser | None, *, auth_token: str | None, permission: Permission
) -> RocketChatUser:
    """Rocket.Chat's login check, then its permission check."""
    if stored is None or not auth_token:
        raise AuthenticationRequired
    if not hmac.compare_digest(stored.token_hash, secret_hash(auth_token)):
        raise AuthenticationRequired
    if permission not in stored.permissions:
        raise PermissionDenied
    return stored

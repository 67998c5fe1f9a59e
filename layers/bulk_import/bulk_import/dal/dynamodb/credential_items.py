"""Credentials: Personium cell tokens, /v1 API credentials, Rocket.Chat users (bulk_import.domain.credentials
says how they are issued and checked).

| item                        | PK              | SK               |
|-----------------------------|-----------------|------------------|
| Personium cell token        | TOKEN#<sha256>  | TOKEN            |
| /v1 API credential          | TOKEN#<sha256>  | API              |
| Rocket.Chat user credential | CELL#<cell>     | RCUSER#<user id> |

Tokens are stored under the SHA-256 of the secret, never the secret; a token's `expiresAt` is also
the table's TTL.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bulk_import.dal.dynamodb.attributes import KeyAttribute
from bulk_import.dal.dynamodb.table import Table, epoch, from_epoch, marshal
from bulk_import.domain.credentials import ApiCredential, ApiPermission, CellToken, Permission, RocketChatUser


class CellTokenAttribute(StrEnum):
    """A Personium cell token's attributes (its hash is its key)."""

    CELL = "cell"
    ROOT = "root"
    SUBJECT = "subject"
    EXPIRES_AT = "expiresAt"  # also the table's TTL attribute
    COOKIE_PEER_HASH = "cookiePeerHash"


class ApiCredentialAttribute(StrEnum):
    """A /v1 API credential's attributes (its hash is its key)."""

    CELL = "cell"
    PERMISSIONS = "permissions"
    NAME = "name"
    EXPIRES_AT = "expiresAt"  # also the table's TTL attribute


class RocketChatUserAttribute(StrEnum):
    """A Rocket.Chat user credential's attributes (its cell and user id are its key)."""

    TOKEN_HASH = "tokenHash"
    PERMISSIONS = "permissions"


def rocketchat_user_key(cell: str, user_id: str) -> dict[str, str]:
    return {KeyAttribute.PK: f"CELL#{cell}", KeyAttribute.SK: f"RCUSER#{user_id}"}


def cell_token_key(token_hash: str) -> dict[str, str]:
    return {KeyAttribute.PK: f"TOKEN#{token_hash}", KeyAttribute.SK: "TOKEN"}


def api_credential_key(token_hash: str) -> dict[str, str]:
    return {KeyAttribute.PK: f"TOKEN#{token_hash}", KeyAttribute.SK: "API"}


def cell_token_to_item(token: CellToken) -> dict[str, Any]:
    return {
        CellTokenAttribute.CELL: token.cell,
        CellTokenAttribute.ROOT: token.root,
        CellTokenAttribute.SUBJECT: token.subject,
        CellTokenAttribute.EXPIRES_AT: epoch(token.expires_at),
        CellTokenAttribute.COOKIE_PEER_HASH: token.cookie_peer_hash,
    }


def cell_token_from_item(token_hash: str, item: dict[str, Any]) -> CellToken:
    return CellToken(
        token_hash=token_hash,
        cell=item[CellTokenAttribute.CELL],
        root=item[CellTokenAttribute.ROOT],
        subject=item[CellTokenAttribute.SUBJECT],
        expires_at=from_epoch(item[CellTokenAttribute.EXPIRES_AT]),
        cookie_peer_hash=item[CellTokenAttribute.COOKIE_PEER_HASH],
    )


def api_credential_to_item(credential: ApiCredential) -> dict[str, Any]:
    return {
        ApiCredentialAttribute.CELL: credential.cell,
        ApiCredentialAttribute.PERMISSIONS: sorted(credential.permissions),
        ApiCredentialAttribute.NAME: credential.name,
        ApiCredentialAttribute.EXPIRES_AT: epoch(credential.expires_at),
    }


def api_credential_from_item(token_hash: str, item: dict[str, Any]) -> ApiCredential:
    return ApiCredential(
        token_hash=token_hash,
        cell=item[ApiCredentialAttribute.CELL],
        permissions=frozenset(map(ApiPermission, item[ApiCredentialAttribute.PERMISSIONS])),
        name=item[ApiCredentialAttribute.NAME],
        expires_at=from_epoch(item[ApiCredentialAttribute.EXPIRES_AT]),
    )


def api_credential_in(found: dict[tuple[str, ...], dict[str, Any]], token_hash: str) -> ApiCredential | None:
    """The credential of `token_hash` among the items a BatchGetItem found, if it is there."""
    item = found.get(tuple(api_credential_key(token_hash).values()))
    return api_credential_from_item(token_hash, item) if item else None


def rocketchat_user_to_item(user: RocketChatUser) -> dict[str, Any]:
    return {
        RocketChatUserAttribute.TOKEN_HASH: user.token_hash,
        RocketChatUserAttribute.PERMISSIONS: sorted(user.permissions),
    }


def rocketchat_user_from_item(cell: str, user_id: str, item: dict[str, Any]) -> RocketChatUser:
    return RocketChatUser(
        user_id=user_id,
        cell=cell,
        token_hash=item[RocketChatUserAttribute.TOKEN_HASH],
        permissions=frozenset(map(Permission, item[RocketChatUserAttribute.PERMISSIONS])),
    )


class CredentialItems(Table):
    """The credentials an operator issues (bulk_import.logic.admin); the API functions read them with the
    operation they ask for (ImportStore's reads)."""

    def read_api_credential(self, token_hash: str) -> ApiCredential | None:
        return api_credential_in(self._batch_get([api_credential_key(token_hash)]), token_hash)

    def put_cell_token(self, token: CellToken) -> None:
        item = {**cell_token_key(token.token_hash), **cell_token_to_item(token)}
        self._call("put_item", TableName=self.table_name, Item=marshal(item))

    def put_api_credential(self, credential: ApiCredential) -> None:
        item = {**api_credential_key(credential.token_hash), **api_credential_to_item(credential)}
        self._call("put_item", TableName=self.table_name, Item=marshal(item))

    def put_rocketchat_user(self, user: RocketChatUser) -> None:
        item = {**rocketchat_user_key(user.cell, user.user_id), **rocketchat_user_to_item(user)}
        self._call("put_item", TableName=self.table_name, Item=marshal(item))

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

from typing import Any

from bulk_import.dal.dynamodb.table import Table, epoch, from_epoch, marshal
from bulk_import.domain.credentials import ApiCredential, ApiPermission, CellToken, Permission, RocketChatUser


def rocketchat_user_key(cell: str, user_id: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": f"RCUSER#{user_id}"}


def cell_token_key(token_hash: str) -> dict[str, str]:
    return {"PK": f"TOKEN#{token_hash}", "SK": "TOKEN"}


def api_credential_key(token_hash: str) -> dict[str, str]:
    return {"PK": f"TOKEN#{token_hash}", "SK": "API"}


def cell_token_to_item(token: CellToken) -> dict[str, Any]:
    return {
        "cell": token.cell,
        "root": token.root,
        "subject": token.subject,
        "expiresAt": epoch(token.expires_at),  # also the table's TTL attribute
        "cookiePeerHash": token.cookie_peer_hash,
    }


def cell_token_from_item(token_hash: str, item: dict[str, Any]) -> CellToken:
    return CellToken(
        token_hash=token_hash,
        cell=item["cell"],
        root=item["root"],
        subject=item["subject"],
        expires_at=from_epoch(item["expiresAt"]),
        cookie_peer_hash=item["cookiePeerHash"],
    )


def api_credential_to_item(credential: ApiCredential) -> dict[str, Any]:
    return {
        "cell": credential.cell,
        "permissions": sorted(credential.permissions),
        "name": credential.name,
        "expiresAt": epoch(credential.expires_at),
    }


def api_credential_from_item(token_hash: str, item: dict[str, Any]) -> ApiCredential:
    return ApiCredential(
        token_hash=token_hash,
        cell=item["cell"],
        permissions=frozenset(map(ApiPermission, item["permissions"])),
        name=item["name"],
        expires_at=from_epoch(item["expiresAt"]),
    )


def api_credential_in(found: dict[tuple[str, ...], dict[str, Any]], token_hash: str) -> ApiCredential | None:
    """The credential of `token_hash` among the items a BatchGetItem found, if it is there."""
    item = found.get(tuple(api_credential_key(token_hash).values()))
    return api_credential_from_item(token_hash, item) if item else None


def rocketchat_user_to_item(user: RocketChatUser) -> dict[str, Any]:
    return {"tokenHash": user.token_hash, "permissions": sorted(user.permissions)}


def rocketchat_user_from_item(cell: str, user_id: str, item: dict[str, Any]) -> RocketChatUser:
    return RocketChatUser(
        user_id=user_id,
        cell=cell,
        token_hash=item["tokenHash"],
        permissions=frozenset(map(Permission, item["permissions"])),
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

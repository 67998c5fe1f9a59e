"""DynamoDB single-table storage. Knows items and keys; knows nothing of HTTP or dialects.

Key schema (docs/data-model.md):

| item                         | PK                 | SK                  |
|------------------------------|--------------------|---------------------|
| cell                         | CELL#<cell>        | CELL                |
| the cell's latest operation  | CELL#<cell>        | IMPORT#~latest      |
| an earlier operation         | CELL#<cell>        | IMPORT#<operation id>  (ids sort by time) |
| Rocket.Chat user credential  | CELL#<cell>        | RCUSER#<user id>    |
| Personium cell token         | TOKEN#<sha256>     | TOKEN               |

The latest operation sits at a fixed key so that a status read is one BatchGetItem of fixed keys
(credential, cell, latest operation). Starting an operation moves the previous latest one to
`IMPORT#<id>` in the same transaction, so each operation is stored in exactly one place, and
`~` sorts after every hex id, so a descending Query lists the latest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from bulk_import.credentials import CellToken, RocketChatUser
from bulk_import.model import Counts, Failure, ImportOperation, utc_now
from bulk_import.settings import get_settings

LATEST = "IMPORT#~latest"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class OperationConflict(Exception):
    """A conditional write lost: another operation is active, or the latest one changed meanwhile."""


def cell_key(cell: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": "CELL"}


def latest_operation_key(cell: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": LATEST}


def earlier_operation_key(cell: str, operation_id: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": f"IMPORT#{operation_id}"}


def rocketchat_user_key(cell: str, user_id: str) -> dict[str, str]:
    return {"PK": f"CELL#{cell}", "SK": f"RCUSER#{user_id}"}


def cell_token_key(token_hash: str) -> dict[str, str]:
    return {"PK": f"TOKEN#{token_hash}", "SK": "TOKEN"}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def operation_to_item(operation: ImportOperation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": operation.id,
        "cell": operation.cell,
        "type": operation.type,
        "importerKey": operation.importer_key,
        "step": operation.step.value,
        "valid": operation.valid,
        "startedAt": operation.started_at.isoformat(),
        "updatedAt": operation.updated_at.isoformat(),
        "user": operation.user,
        "count": operation.count.model_dump(),
    }
    if operation.importation_name is not None:
        item["importationName"] = operation.importation_name
    if operation.failure is not None:
        item["failure"] = operation.failure.model_dump()
    return item


def operation_from_item(item: dict[str, Any]) -> ImportOperation:
    return ImportOperation(
        id=item["id"],
        cell=item["cell"],
        type=item["type"],
        importer_key=item["importerKey"],
        importation_name=item.get("importationName"),
        step=item["step"],
        valid=item["valid"],
        started_at=datetime.fromisoformat(item["startedAt"]),
        updated_at=datetime.fromisoformat(item["updatedAt"]),
        user=item["user"],
        count=Counts(**{name: int(value) for name, value in item["count"].items()}),
        failure=Failure(**item["failure"]) if "failure" in item else None,
    )


def cell_token_to_item(token: CellToken) -> dict[str, Any]:
    return {
        "cell": token.cell,
        "root": token.root,
        "subject": token.subject,
        "expiresAt": _epoch(token.expires_at),  # also the table's TTL attribute
        "cookiePeerHash": token.cookie_peer_hash,
    }


def cell_token_from_item(token_hash: str, item: dict[str, Any]) -> CellToken:
    return CellToken(
        token_hash=token_hash,
        cell=item["cell"],
        root=item["root"],
        subject=item["subject"],
        expires_at=datetime.fromtimestamp(int(item["expiresAt"]), timezone.utc),
        cookie_peer_hash=item["cookiePeerHash"],
    )


def rocketchat_user_to_item(user: RocketChatUser) -> dict[str, Any]:
    return {"tokenHash": user.token_hash, "permissions": sorted(user.permissions)}


def rocketchat_user_from_item(cell: str, user_id: str, item: dict[str, Any]) -> RocketChatUser:
    return RocketChatUser(
        user_id=user_id, cell=cell, token_hash=item["tokenHash"], permissions=frozenset(item["permissions"])
    )


@dataclass(frozen=True)
class CellStatusRead:
    """Everything a Personium status read needs, fetched in one request."""

    cell_exists: bool
    token: CellToken | None
    latest: ImportOperation | None


@dataclass(frozen=True)
class RocketChatStatusRead:
    """Everything a Rocket.Chat status read needs, fetched in one request."""

    user: RocketChatUser | None
    latest: ImportOperation | None


class ImportStore:
    """The table, named by intent. One method, one DynamoDB request unless its docstring says otherwise."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    # -- reads -----------------------------------------------------------------------------------

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """One BatchGetItem; a second only if DynamoDB returns UnprocessedKeys (throttling)."""
        request = {self.table_name: {"Keys": [_marshal(key) for key in keys], "ConsistentRead": True}}
        found: dict[tuple[str, str], dict[str, Any]] = {}
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response["Responses"].get(self.table_name, []):
                item = _unmarshal(raw)
                found[(item["PK"], item["SK"])] = item
            request = response.get("UnprocessedKeys") or {}
        return found

    def read_cell_status(self, cell: str, token_hash: str | None) -> CellStatusRead:
        keys = [cell_key(cell), latest_operation_key(cell)]
        if token_hash is not None:
            keys.append(cell_token_key(token_hash))
        found = self._batch_get(keys)
        token_item = found.get(tuple(cell_token_key(token_hash).values())) if token_hash else None
        latest_item = found.get(tuple(latest_operation_key(cell).values()))
        return CellStatusRead(
            cell_exists=tuple(cell_key(cell).values()) in found,
            token=cell_token_from_item(token_hash, token_item) if token_item else None,
            latest=operation_from_item(latest_item) if latest_item else None,
        )

    def read_rocketchat_status(self, cell: str, user_id: str) -> RocketChatStatusRead:
        found = self._batch_get([rocketchat_user_key(cell, user_id), latest_operation_key(cell)])
        user_item = found.get(tuple(rocketchat_user_key(cell, user_id).values()))
        latest_item = found.get(tuple(latest_operation_key(cell).values()))
        return RocketChatStatusRead(
            user=rocketchat_user_from_item(cell, user_id, user_item) if user_item else None,
            latest=operation_from_item(latest_item) if latest_item else None,
        )

    def latest_operations(self, cell: str, limit: int) -> list[ImportOperation]:
        """The cell's operations, newest first: the latest, then earlier ones by descending id."""
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=_marshal({":pk": f"CELL#{cell}", ":prefix": "IMPORT#"}),
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [operation_from_item(_unmarshal(raw)) for raw in response["Items"]]

    # -- writes ----------------------------------------------------------------------------------

    def put_cell(self, cell: str) -> bool:
        """Creates the cell if it does not exist yet; True when this call created it."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_marshal({**cell_key(cell), "cell": cell, "createdAt": utc_now().isoformat()}),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_cell_token(self, token: CellToken) -> None:
        item = {**cell_token_key(token.token_hash), **cell_token_to_item(token)}
        self.client.put_item(TableName=self.table_name, Item=_marshal(item))

    def put_rocketchat_user(self, user: RocketChatUser) -> None:
        item = {**rocketchat_user_key(user.cell, user.user_id), **rocketchat_user_to_item(user)}
        self.client.put_item(TableName=self.table_name, Item=_marshal(item))

    def start_operation(self, operation: ImportOperation, previous: ImportOperation | None) -> None:
        """Makes `operation` the cell's latest, moving `previous` (the latest read before) aside.

        One transaction, conditional on the latest record being unchanged since the caller read it
        and decided it may be replaced; otherwise OperationConflict, and nothing is written.
        """
        new_latest = {
            "Put": {
                "TableName": self.table_name,
                "Item": _marshal({**latest_operation_key(operation.cell), **operation_to_item(operation)}),
            }
        }
        if previous is None:
            new_latest["Put"]["ConditionExpression"] = "attribute_not_exists(PK)"
            actions = [new_latest]
        else:
            # Optimistic: the latest must still be exactly the record the caller decided on.
            new_latest["Put"]["ConditionExpression"] = "id = :previous AND updatedAt = :previous_updated"
            new_latest["Put"]["ExpressionAttributeValues"] = _marshal(
                {":previous": previous.id, ":previous_updated": previous.updated_at.isoformat()}
            )
            archived = {**earlier_operation_key(previous.cell, previous.id), **operation_to_item(previous)}
            actions = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": _marshal(archived),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                new_latest,
            ]
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise OperationConflict(operation.cell) from exc
            raise

    def put_latest_operation(self, operation: ImportOperation) -> None:
        """Replaces the latest operation's record, provided it is still this operation."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_marshal({**latest_operation_key(operation.cell), **operation_to_item(operation)}),
                ConditionExpression="id = :id",
                ExpressionAttributeValues=_marshal({":id": operation.id}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise OperationConflict(operation.cell) from exc
            raise


def _marshal(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@lru_cache(maxsize=1)
def default_store() -> ImportStore:
    """The store for this process, created once so the client survives warm invocations.

    The endpoint comes from boto3's own configuration (AWS_ENDPOINT_URL in the local stack).
    """
    return ImportStore(get_settings().table_name, boto3.client("dynamodb"))

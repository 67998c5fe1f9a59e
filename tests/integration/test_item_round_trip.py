"""Every kind of item the store keeps, written with every optional field set and read back through
the store, equal to what was written; and the item as DynamoDB holds it carries exactly the
attribute names its kind defines, so a field the mapping drops (or an attribute it invents) fails
here rather than in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.attributes import KeyAttribute, names_of
from bulk_import.dal.dynamodb.credential_items import (
    ApiCredentialAttribute,
    CellTokenAttribute,
    RocketChatUserAttribute,
    api_credential_key,
    cell_token_key,
    rocketchat_user_key,
)
from bulk_import.dal.dynamodb.directory_items import (
    DirectoryAttribute,
    DirectoryEntry,
    StoredAttribute,
    StoredDownload,
    directory_key,
)
from bulk_import.dal.dynamodb.operation_items import (
    CellAttribute,
    CountAttribute,
    FailureAttribute,
    OperationAttribute,
    StartKeyAttribute,
    cell_key,
    earlier_operation_key,
    latest_operation_key,
    start_key_key,
)
from bulk_import.dal.dynamodb.record_items import (
    FAILURE_ATTRIBUTES,
    BatchOutcome,
    FailedEntryAttribute,
    MarkerAttribute,
    RecordAttribute,
    batch_marker_key,
    staged_record_key,
)
from bulk_import.dal.dynamodb.table import marshal, unmarshal
from bulk_import.domain.credentials import (
    ApiCredential,
    ApiPermission,
    CellToken,
    Permission,
    RocketChatUser,
    secret_hash,
)
from bulk_import.domain.operation import (
    START_KEY_LIFETIME,
    Counts,
    Failure,
    ImportOperation,
    KeyedStart,
    ProgressMark,
    ProgressStep,
    StartKey,
    new_operation_id,
    utc_now,
)
from bulk_import.domain.records.staged import StagedRecord

CELL = "roundtrip"
#: A moment with microseconds, as ISO 8601 attributes keep them.
NOW = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
#: Whole seconds in UTC: epoch attributes (TTL) keep no more.
EXPIRY = datetime(2031, 8, 1, 12, 0, 0, tzinfo=UTC)
#: JSON as records carry it: nested, with a float, a whole number, a list, a null and a boolean.
DATA = {
    "username": "ana",
    "emails": ["ana@example.com"],
    "profile": {"score": 0.25, "age": 40, "bio": None},
    "on": True,
}


def stored(store: ImportStore, key: dict[str, str]) -> dict[str, Any]:
    """The item at `key` as DynamoDB holds it."""
    response = store.client.get_item(TableName=store.table_name, Key=marshal(key), ConsistentRead=True)
    return unmarshal(response["Item"])


def every_field_operation(**changes: Any) -> ImportOperation:
    """An operation with every optional field set, none to its default."""
    fields: dict[str, Any] = {
        "id": new_operation_id(),
        "cell": CELL,
        "type": "snapshot",
        "importer_key": "personium",
        "importation_name": "CellExport_2031",
        "step": ProgressStep.IMPORTING_CHANNELS,
        "valid": False,
        "started_at": NOW - timedelta(hours=2),
        "updated_at": NOW,
        "user": "operator",
        "count": Counts(total=21, users=10, messages=6, channels=5, completed=12, error=3),
        "failure": Failure(code="PR500-PI-0001", message="the input could not be read"),
        "source_key": "uploads/roundtrip/users.zip",
        "source_etag": '"9b2cf535f27731c974343645a3985328"',
        "source_url": "https://files.example.com/exports/users.zip?token=roundtrip",
        "stage_cursor": {"position": 1234, "counts": {"users": 10, "messages": 6}, "ratio": 0.5},
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:import:roundtrip",
        "parent_id": new_operation_id(),
        "heartbeat_at": NOW - timedelta(minutes=1),
        "finished_at": NOW - timedelta(seconds=5),
        "expires_at": EXPIRY,
        "reconcile_pending": True,
        "waiting_until": NOW + timedelta(minutes=3),
        "mark": ProgressMark(at=NOW - timedelta(seconds=10), processed=15),
        "previous_mark": ProgressMark(at=NOW - timedelta(seconds=40), processed=4),
        "selection_token": "AQCEAAAAKgAAAAMAAAAAAAAAAR3rm0x+roundtrip==",
    }
    return ImportOperation(**(fields | changes))


def assert_operation_names(item: dict[str, Any]) -> None:
    assert set(item) == names_of(KeyAttribute, OperationAttribute)
    assert set(item[OperationAttribute.COUNT]) == names_of(CountAttribute)
    assert set(item[OperationAttribute.FAILURE]) == names_of(FailureAttribute)


def test_the_cells_latest_operation_round_trips_with_every_field(store):
    operation = every_field_operation()
    store.start_operation(operation, None)

    assert store.latest_operation(CELL) == operation
    assert store.operation(CELL, operation.id) == operation
    assert store.read_cell_status(CELL, None).latest == operation
    assert_operation_names(stored(store, latest_operation_key(CELL)))


def test_an_earlier_operation_round_trips_with_every_field(store):
    earlier, latest = every_field_operation(), every_field_operation(parent_id=None)
    store.start_operation(earlier, None)
    store.start_operation(latest, earlier)  # moves `earlier` to its own key

    assert store.operation(CELL, earlier.id) == earlier
    assert store.latest_operations(CELL, 5) == [latest, earlier]
    assert_operation_names(stored(store, earlier_operation_key(CELL, earlier.id)))


def test_a_cell_round_trips(store):
    before = utc_now()
    assert store.put_cell(CELL)

    assert store.read_cell_status(CELL, None).cell_exists
    item = stored(store, cell_key(CELL))
    assert set(item) == names_of(KeyAttribute, CellAttribute)
    assert item[CellAttribute.CELL] == CELL
    assert before <= datetime.fromisoformat(item[CellAttribute.CREATED_AT]) <= utc_now()


def test_a_starts_idempotency_key_round_trips(store):
    operation, key = every_field_operation(), StartKey(key_hash=secret_hash("key"), request_hash=secret_hash("body"))
    before = utc_now().replace(microsecond=0)
    store.start_operation(operation, None, key)
    after = utc_now()

    keyed = store.keyed_start(CELL, key.key_hash)
    assert keyed == KeyedStart(operation.id, key.request_hash, keyed.expires_at)
    assert before + START_KEY_LIFETIME <= keyed.expires_at <= after + START_KEY_LIFETIME
    assert store.read_api_cell(CELL, secret_hash("no credential"), key.key_hash).keyed == keyed
    assert set(stored(store, start_key_key(CELL, key.key_hash))) == names_of(KeyAttribute, StartKeyAttribute)


def test_a_personium_cell_token_round_trips(store):
    token = CellToken(
        token_hash=secret_hash("token"),
        cell=CELL,
        root=True,
        subject="https://example.com/someone/#me",
        expires_at=EXPIRY,
        cookie_peer_hash=secret_hash("peer"),
    )
    store.put_cell_token(token)

    assert store.read_cell_status(CELL, token.token_hash).token == token
    assert set(stored(store, cell_token_key(token.token_hash))) == names_of(KeyAttribute, CellTokenAttribute)


def test_an_api_credential_round_trips(store):
    credential = ApiCredential(
        token_hash=secret_hash("api"),
        cell=CELL,
        permissions=frozenset(ApiPermission),
        name="ci pipeline",
        expires_at=EXPIRY,
    )
    store.put_api_credential(credential)

    assert store.read_api_credential(credential.token_hash) == credential
    assert store.read_api_cell(CELL, credential.token_hash).credential == credential
    item = stored(store, api_credential_key(credential.token_hash))
    assert set(item) == names_of(KeyAttribute, ApiCredentialAttribute)


def test_a_rocketchat_user_credential_round_trips(store):
    user = RocketChatUser(
        user_id="rc-user-1", cell=CELL, token_hash=secret_hash("rc"), permissions=frozenset(Permission)
    )
    store.put_rocketchat_user(user)

    assert store.read_rocketchat_status(CELL, user.user_id).user == user
    item = stored(store, rocketchat_user_key(CELL, user.user_id))
    assert set(item) == names_of(KeyAttribute, RocketChatUserAttribute)


def test_a_record_staged_by_the_api_round_trips(store):
    operation = every_field_operation(step=ProgressStep.NEW, valid=True, count=Counts())
    store.start_operation(operation, None)
    record = StagedRecord(
        type="user", seq=0, data=DATA, source="import.addUsers:1", problem="the record is larger than 350 KB"
    )
    store.stage_api_records(operation, [record], "users")

    assert store.api_records(operation.id, "user", 0) == [record]
    item = stored(store, staged_record_key(operation.id, record))
    assert set(item) == names_of(KeyAttribute, RecordAttribute) - FAILURE_ATTRIBUTES


def test_a_failed_record_round_trips(store):
    operation_id = new_operation_id()
    record = StagedRecord(
        type="channel",
        seq=1234,
        data=DATA,
        source="channels.jsonl:1235",
        error="name: is required",
        error_code="invalid-record",
        problem="a value is not storable",
    )
    store.put_failed_records(operation_id, [record])

    assert store.failed_records(operation_id, 10).items == [record]
    assert set(stored(store, staged_record_key(operation_id, record))) == names_of(KeyAttribute, RecordAttribute)


def test_a_batch_marker_round_trips(store):
    operation_id = new_operation_id()
    outcome = BatchOutcome(
        completed=47,
        failed={3: ("invalid-record", "emails: is required"), 17: ("already-exists", "user17 exists"), 40: ("x", "")},
    )
    store.put_batch_outcome(operation_id, "message", 5, outcome)

    assert store.batch_outcomes(operation_id, "message", [5, 6]) == {5: outcome}
    item = stored(store, batch_marker_key(operation_id, "message", 5))
    assert set(item) == names_of(KeyAttribute, MarkerAttribute)
    assert all(set(entry) == names_of(FailedEntryAttribute) for entry in item[MarkerAttribute.FAILED])


@pytest.mark.parametrize(
    ("kind", "identity", "downloads"),
    [("user", "ana", 1), ("user", "bo", 0), ("channel", "general", 0), ("message", "general#1700000000.123#op#7", 2)],
)
def test_an_imported_entry_round_trips(store, kind, identity, downloads):
    entry = DirectoryEntry(
        kind=kind, identity=identity, data=DATA, reference=f"{new_operation_id()}#{kind}#7", downloads=downloads
    )

    assert store.insert_directory_entries(CELL, [entry]) == [True]

    assert store.directory_entries(CELL, [(kind, identity), (kind, "absent")]) == {(kind, identity): entry}
    names = names_of(KeyAttribute, DirectoryAttribute)
    if not downloads:  # the attributes of downloads are an entry's that leaves some
        names -= {DirectoryAttribute.PENDING, DirectoryAttribute.PENDING_DOWNLOADS, DirectoryAttribute.DOWNLOADS}
    assert set(stored(store, directory_key(CELL, kind, identity))) == names


def test_an_entrys_downloads_round_trip(store):
    entry = DirectoryEntry(kind="message", identity="general#1", data=DATA, reference="op#message#1", downloads=3)
    store.insert_directory_entries(CELL, [entry])
    (pending,) = store.pending_entries(CELL, "message", ["general#1", "absent"]).values()
    assert (pending.kind, pending.identity, pending.data, pending.pending, pending.done) == (
        "message",
        "general#1",
        DATA,
        frozenset({0, 1, 2}),
        {},
    )
    done = {1: StoredDownload("files/c/message/x/1/a.pdf", "op2#message#4")}
    assert store.record_downloads(CELL, pending, done) is True
    assert store.record_downloads(CELL, pending, done) is False  # it changed since it was read
    (recorded,) = store.pending_entries(CELL, "message", ["general#1"]).values()
    assert (recorded.pending, recorded.done) == (frozenset({0, 2}), done)
    item = stored(store, directory_key(CELL, "message", "general#1"))
    assert set(item[DirectoryAttribute.DOWNLOADS]["1"]) == names_of(StoredAttribute)

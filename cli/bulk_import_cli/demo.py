"""Demo data with well-known secrets, so events/ and the README's curl calls work as they are.

For the local stack and a dev stack only: anyone can read these secrets in the repository.
The Rocket.Chat credential is the one in Rocket.Chat's own import.status example.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import timedelta

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.dynamodb.record_items import BatchOutcome
from bulk_import.dal.s3 import ImportFiles, upload_prefix
from bulk_import.dal.snapshot_files import SnapshotFiles
from bulk_import.domain.credentials import ApiPermission, Permission
from bulk_import.domain.operation import Counts, ImportOperation, ProgressStep, new_operation_id, utc_now
from bulk_import.domain.records.staged import StagedRecord
from bulk_import.logic.admin import create_api_credential, create_cell_token, create_rocketchat_credential
from bulk_import.logic.snapshot_files import write_snapshot_file

DEMO_CELL = "demo"
OTHER_CELL = "elsewhere"
ROOT_TOKEN = "DemoRootToken-local-only-000000000000000000"
ROOT_COOKIE_PEER = "DemoCookiePeer-local-only-00000000000000000"
READER_TOKEN = "DemoReaderToken-local-only-0000000000000000"
OTHER_CELL_ROOT_TOKEN = "ElsewhereRootToken-local-only-0000000000000"
ROCKETCHAT_USER_ID = "aobEdbYhXfu5hkeqG"
ROCKETCHAT_AUTH_TOKEN = "9HqLlyZOugoStsXCUfD_0YdwnNnunAJF8V47U3QHXSq"
ROCKETCHAT_VIEWER_ID = "NoRunImport000001"
ROCKETCHAT_VIEWER_TOKEN = "DemoViewerToken-local-only-0000000000000000"
ROCKETCHAT_RUNNER_ID = "OnlyRunImport0001"
ROCKETCHAT_RUNNER_TOKEN = "DemoRunnerToken-local-only-0000000000000000"
API_TOKEN = "bi_DemoApiToken-local-only-000000000000000000"
API_READER_TOKEN = "bi_DemoApiReader-local-only-00000000000000000"
OTHER_CELL_API_TOKEN = "bi_ElsewhereApiToken-local-only-0000000000000"
#: Sample imports at fixed ids, so that events/ can name them: the demo cell's is importing, the
#: other cell's is done with two failed records.
ACTIVE_OPERATION_ID = "019a0000000000000000a001"
DONE_OPERATION_ID = "019a0000000000000000d001"
#: An uploaded file on the idle cell, so that events/ can start a /v1 import of it.
SAMPLE_UPLOAD_ID = "0000000000000000000e0001"
# Long enough that a dev stack seeded once keeps answering the console test events.
DEMO_TOKEN_LIFETIME = timedelta(days=365)
#: A small snapshot on the idle cell, so that events/ can start a real import.
SAMPLE_SNAPSHOT = "demo-snapshot"


def demo_users_zip(count: int, invalid_every: int = 20) -> bytes:
    """Rocket.Chat's CSV importer layout: users.csv, channels.csv and a channel's messages.csv;
    every `invalid_every`-th user has no email, so that some records fail as they would in life."""
    users = "".join(
        f"user{n},{'' if invalid_every and n % invalid_every == 7 else f'user{n}@example.com'},User {n}\n"
        for n in range(count)
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("users.csv", "username,email,name\n" + users)
        zipped.writestr("channels.csv", "name,creator,private,members\ngeneral,user0,false,user0;user1\n")
        zipped.writestr("general/messages.csv", "username,timestamp,text\nuser0,1700000000000,Hello\n")
    return archive.getvalue()


def seed_demo(
    store: ImportStore, rocketchat_cell: str, files: ImportFiles | None = None, sample_operations: bool = True
) -> None:
    """Creates the demo credentials, one sample operation per cell as an import would leave them
    (what events/ expect), and (given the bucket) a sample snapshot on the idle cell."""
    create_cell_token(
        store, DEMO_CELL, root=True, token=ROOT_TOKEN, peer=ROOT_COOKIE_PEER, lifetime=DEMO_TOKEN_LIFETIME
    )
    create_cell_token(store, DEMO_CELL, root=False, token=READER_TOKEN, lifetime=DEMO_TOKEN_LIFETIME)
    create_cell_token(store, OTHER_CELL, root=True, token=OTHER_CELL_ROOT_TOKEN, lifetime=DEMO_TOKEN_LIFETIME)
    create_rocketchat_credential(
        store,
        rocketchat_cell,
        ROCKETCHAT_USER_ID,
        [Permission.RUN_IMPORT, Permission.VIEW_IMPORT_OPERATIONS],
        token=ROCKETCHAT_AUTH_TOKEN,
    )
    create_rocketchat_credential(
        store, rocketchat_cell, ROCKETCHAT_VIEWER_ID, [Permission.VIEW_IMPORT_OPERATIONS], token=ROCKETCHAT_VIEWER_TOKEN
    )
    create_rocketchat_credential(
        store, rocketchat_cell, ROCKETCHAT_RUNNER_ID, [Permission.RUN_IMPORT], token=ROCKETCHAT_RUNNER_TOKEN
    )
    for cell, token in ((DEMO_CELL, API_TOKEN), (OTHER_CELL, OTHER_CELL_API_TOKEN)):
        create_api_credential(
            store,
            cell,
            [ApiPermission.READ, ApiPermission.WRITE],
            name="demo-operator",
            token=token,
            lifetime=DEMO_TOKEN_LIFETIME,
        )
    create_api_credential(
        store, DEMO_CELL, [ApiPermission.READ], name="demo-reader", token=API_READER_TOKEN, lifetime=DEMO_TOKEN_LIFETIME
    )
    if files is not None:
        # Stored as a Personium client's PUT stores it (a zip, with its WebDAV version and dates).
        write_snapshot_file(
            SnapshotFiles(files), OTHER_CELL, f"{SAMPLE_SNAPSHOT}.zip", demo_users_zip(120), "application/zip", None
        )
        files.put(upload_prefix(OTHER_CELL, SAMPLE_UPLOAD_ID) + "users.zip", demo_users_zip(120))
    if not sample_operations:
        return
    now = utc_now()
    samples = [
        ImportOperation(
            id=DONE_OPERATION_ID,
            cell=OTHER_CELL,
            type="v1",
            importer_key="v1",
            importation_name="users.jsonl",
            step=ProgressStep.DONE,
            started_at=now,
            updated_at=now,
            finished_at=now,
            user="demo-operator",
            count=Counts(total=5, users=5, completed=3, error=2),
        ),
        ImportOperation(
            id=ACTIVE_OPERATION_ID,
            cell=DEMO_CELL,
            type="personium",
            importer_key="personium",
            importation_name="CellExport_2017_01",
            step=ProgressStep.IMPORTING_USERS,
            started_at=now,
            updated_at=now,
            user="operator",
            count=Counts(total=1000, users=1000, completed=800, error=10),
        ),
        ImportOperation(
            id=new_operation_id(),
            cell=rocketchat_cell,
            type="api",
            importer_key="api",
            step=ProgressStep.USER_SELECTION,
            started_at=now,
            updated_at=now,
            user=ROCKETCHAT_USER_ID,
            count=Counts(total=8000, users=8000),
        ),
    ]
    for sample in samples:
        if sample.id in {operation.id for operation in store.latest_operations(sample.cell, 20)}:
            continue  # seeded before (the fixed ids)
        latest = store.latest_operations(sample.cell, 1)
        store.start_operation(sample, latest[0] if latest else None)
    _seed_finished_sample(store, files)


#: The finished sample import's users.jsonl, line by line: carol (user:1) has no email, and dave
#: (user:4) already existed.
_SAMPLE_USERS = [
    {"username": "ann", "emails": ["ann@example.com"]},
    {"username": "carol", "emails": []},
    {"username": "bob", "emails": ["bob@example.com"]},
    {"username": "erin", "emails": ["erin@example.com"]},
    {"username": "dave", "emails": ["dave@example.com"]},
]
_SAMPLE_FAILURES = {
    1: ("invalid-record", "emails: at least one is required"),
    4: ("already-exists", "user dave already exists"),
}


def _seed_finished_sample(store: ImportStore, files: ImportFiles | None) -> None:
    """What the worker leaves of the finished sample import: its staged records (given the bucket),
    its one batch's marker, and its failed records for the errors API."""
    staged = [
        StagedRecord(type="user", seq=seq, source=f"users.jsonl:{seq + 1}", data=data)
        for seq, data in enumerate(_SAMPLE_USERS)
    ]
    if files is not None:
        files.write_staged_objects(DONE_OPERATION_ID, {("user", 0): staged})
    store.put_batch_outcome(DONE_OPERATION_ID, "user", 0, BatchOutcome(completed=3, failed=_SAMPLE_FAILURES))
    store.put_failed_records(
        DONE_OPERATION_ID,
        [replace(staged[seq], error_code=code, error=message) for seq, (code, message) in _SAMPLE_FAILURES.items()],
    )

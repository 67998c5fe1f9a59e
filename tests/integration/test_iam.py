"""Least privilege that still works: every AWS call a function makes, seen while its handler runs
on moto, is an action its policy in template.yaml allows (moto does not check IAM, AWS does)."""

from __future__ import annotations

import json
from collections import defaultdict

import botocore.client
import pytest

from bulk_import.files import default_files
from bulk_import.imports import cancel, start_records_import
from bulk_import_cli.demo import seed_demo
from tests.conftest import FUNCTIONS, ROOT, TEMPLATE, load_event
from tests.integration.test_worker import RecordedExecutions, batch_descriptors

#: IAM actions that SAM policy templates in template.yaml grant (the ones used there).
POLICY_TEMPLATES = {
    "EventBridgePutEventsPolicy": {"events:PutEvents"},
    "SQSSendMessagePolicy": {"sqs:SendMessage", "sqs:SendMessageBatch"},
    "LambdaInvokePolicy": {"lambda:InvokeFunction"},
    "S3ReadPolicy": {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion",
                     "s3:GetLifecycleConfiguration"},
}
#: API operations whose IAM action has another name.
ACTION_OF = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
}
SERVICE_PREFIX = {"dynamodb": "dynamodb", "s3": "s3", "states": "states", "events": "events"}


def _listed(value):
    return value if isinstance(value, list) else [value]


def _table_part(resource) -> str | None:
    """'table' or 'index/<name>' for a statement's resource on ImportTable; None for others."""
    if resource == {"Fn::GetAtt": ["ImportTable", "Arn"]}:
        return "table"
    if isinstance(resource, dict) and str(resource.get("Fn::Sub", "")).startswith("${ImportTable.Arn}/"):
        return resource["Fn::Sub"].removeprefix("${ImportTable.Arn}/")
    return None


def allowed_actions(function: str) -> set[str]:
    """IAM actions the function's policies grant; DynamoDB ones as `action@table` or `action@index/X`."""
    allowed = set()
    for policy in TEMPLATE.raw["Resources"][function]["Properties"].get("Policies", []):
        (name, body), = policy.items()
        if name != "Statement":
            allowed |= POLICY_TEMPLATES[name]
            continue
        for statement in body:
            for action in _listed(statement["Action"]):
                if action.startswith("dynamodb:"):
                    allowed |= {f"{action}@{part}" for part in map(_table_part, _listed(statement["Resource"])) if part}
                else:
                    allowed.add(action)
    return allowed


@pytest.fixture
def calls(store):
    """(service, operation, table or index for DynamoDB) of every AWS call made while recording, by function."""
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    current: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation_name, api_params):
        if current:
            service = self.meta.service_model.endpoint_prefix
            target = f"index/{api_params['IndexName']}" if "IndexName" in api_params else "table"
            seen[current[-1]].add((service, operation_name, target if service == "dynamodb" else ""))
        return original(self, operation_name, api_params)

    # Installed over the strict SDK boundary and removed before it (this fixture ends first), not
    # through monkeypatch, which would put it back only after the boundary is gone.
    botocore.client.BaseClient._make_api_call = record

    def run(function: str, event: dict):
        current.append(function)
        try:
            return FUNCTIONS.invoke(function, event)
        finally:
            current.pop()

    yield seen, run
    botocore.client.BaseClient._make_api_call = original


def run_every_event_file(run) -> None:
    for path in sorted((ROOT / "events").rglob("*.json")):
        relative = path.relative_to(ROOT / "events")
        run(relative.parts[0], load_event(str(relative)))


def run_the_worker_on_a_retry_of_a_canceled_import(store, run) -> None:
    """The worker's three functions, called as the state machine calls them, on the path that
    reads the most: a retry of a canceled import (failed records, markers, uncounted batches)."""
    records = [{"type": "user", "username": f"iam{n}", "emails": [] if n == 3 else [f"iam{n}@example.com"]}
               for n in range(120)]
    started = start_records_import(store, default_files(), RecordedExecutions(), "iamcell", records, None, "t")
    reference = {"cell": "iamcell", "id": started.id}
    staged = run("ImportStageFunction", {"operation": reference})
    run("ImportBatchFunction", {"batch": {"cell": "iamcell", "operationId": started.id, "type": "user", "batch": 0}})
    parent = cancel(store, RecordedExecutions(), store.latest_operation("iamcell"))
    assert staged["staged"] and parent.count.error == 71

    from bulk_import.imports import retry
    child = retry(store, default_files(), RecordedExecutions(), parent, {"user:3": records[3] | {
        "emails": ["iam3@example.com"]}}, "t")
    child_reference = {"cell": "iamcell", "id": child.id}
    task = run("ImportStageFunction", {"operation": child_reference})
    manifest = json.loads(default_files().client.get_object(Bucket=task["manifest"]["bucket"],
                                                           Key=task["manifest"]["user"])["Body"].read())
    for descriptor in (descriptor for group in manifest for descriptor in batch_descriptors(group)):
        run("ImportBatchFunction", {"batch": descriptor})
    for phase in ("channels", "messages", "done"):
        run("ImportPhaseFunction", {"operation": child_reference, "phase": phase})
    assert store.latest_operation("iamcell").count.completed == 71
    run("ImportPhaseFunction", {"operation": child_reference, "phase": "failed",
                                "error": {"Error": "States.Timeout", "Cause": "{}"}})


def test_every_call_a_function_makes_is_allowed_by_its_policy(store, calls, function_environment):
    seen, run = calls
    seed_demo(store, function_environment["ROCKETCHAT_CELL"], default_files())
    run_every_event_file(run)
    run_the_worker_on_a_retry_of_a_canceled_import(store, run)

    assert set(seen) >= {"NativeReadFunction", "NativeWriteFunction", "ImportStageFunction", "ImportBatchFunction",
                         "ImportPhaseFunction", "ImportEventsFunction", "ImportSweeperFunction"}
    missing = {}
    for function, operations in seen.items():
        needed = {ACTION_OF.get((service, operation), f"{SERVICE_PREFIX[service]}:{operation}")
                  + (f"@{target}" if target else "") for service, operation, target in operations}
        if needed - allowed_actions(function):
            missing[function] = sorted(needed - allowed_actions(function))
    assert missing == {}

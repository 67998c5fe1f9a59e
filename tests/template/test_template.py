"""template.yaml: the resources the issue asks for, scoped IAM, and a lint-clean SAM template."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

from bulk_import.api.personium_webdav import BINARY_MEDIA_TYPES

ROOT = Path(__file__).resolve().parents[2]
STATUS_FUNCTIONS = ["PersoniumStatusFunction", "RocketChatStatusFunction"]
READ_ONLY_ACTIONS = {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"}


@pytest.fixture(scope="module")
def template():
    decoded, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return decoded


def resources_of_type(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_one_table_with_on_demand_billing_pitr_ttl_and_encryption(template):
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    assert list(tables) == ["ImportTable"]
    properties = tables["ImportTable"]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert [k["AttributeName"] for k in properties["KeySchema"]] == ["PK", "SK"]


def test_functions_run_python313_on_arm64_with_tracing(template):
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    # Active unless the EnableTracing parameter turns it off (tests/template/test_operations_features.py).
    assert function_globals["Tracing"] == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    assert template["Parameters"]["EnableTracing"]["Default"] == "true"


@pytest.mark.parametrize("function", STATUS_FUNCTIONS)
def test_status_functions_only_read_the_table(template, function):
    policies = template["Resources"][function]["Properties"]["Policies"]
    statements = [statement for policy in policies for statement in policy["Statement"]]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if actions == ["s3:GetObject"]:  # getImportFileData reads what a prepared file staged, only that
            assert statement["Resource"] == {"Fn::Sub": "${ImportBucket.Arn}/staging/*"}
            continue
        assert set(actions) <= READ_ONLY_ACTIONS
        assert statement["Resource"] == {"Fn::GetAtt": ["ImportTable", "Arn"]}


def test_every_route_of_the_three_apis_is_served_by_the_rest_api(template):
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"]): name
        for name, function in resources_of_type(template, "AWS::Serverless::Function").items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Api" and event["Properties"]["RestApiId"] == {"Ref": "ImportApi"}
    }
    assert routes == {
        ("GET", "/{CellName}/__import"): "PersoniumStatusFunction",
        ("GET", "/api/v1/import.status"): "RocketChatStatusFunction",
        ("GET", "/api/v1/getCurrentImportOperation"): "RocketChatStatusFunction",
        ("GET", "/api/v1/getLatestImportOperations"): "RocketChatStatusFunction",
        ("GET", "/api/v1/getImportProgress"): "RocketChatStatusFunction",
        ("GET", "/api/v1/importers.list"): "RocketChatStatusFunction",
        ("GET", "/api/v1/getImportFileData"): "RocketChatStatusFunction",
        ("POST", "/api/v1/uploadImportFile"): "RocketChatImportFunction",
        ("POST", "/api/v1/downloadPublicImportFile"): "RocketChatImportFunction",
        ("POST", "/api/v1/startImport"): "RocketChatImportFunction",
        ("POST", "/api/v1/downloadPendingFiles"): "RocketChatImportFunction",
        ("POST", "/api/v1/downloadPendingAvatars"): "RocketChatImportFunction",
        ("POST", "/api/v1/import.new"): "RocketChatImportFunction",
        ("POST", "/api/v1/import.addUsers"): "RocketChatImportFunction",
        ("POST", "/api/v1/import.run"): "RocketChatImportFunction",
        ("POST", "/api/v1/import.clear"): "RocketChatImportFunction",
        ("POST", "/{CellName}/__import"): "PersoniumImportFunction",
        # WebDAV's methods too (PROPFIND, REPORT...): the function answers each as Personium does.
        ("ANY", "/{CellName}/__snapshot/{Name}"): "PersoniumImportFunction",
        ("ANY", "/{CellName}/__snapshot"): "PersoniumImportFunction",
        ("GET", "/v1/cells/{cell}/imports"): "NativeReadFunction",
        ("GET", "/v1/cells/{cell}/imports/{operationId}"): "NativeReadFunction",
        ("GET", "/v1/cells/{cell}/imports/{operationId}/errors"): "NativeReadFunction",
        ("POST", "/v1/cells/{cell}/uploads"): "NativeWriteFunction",
        ("POST", "/v1/cells/{cell}/uploads/{uploadId}/complete"): "NativeWriteFunction",
        ("POST", "/v1/cells/{cell}/imports"): "NativeWriteFunction",
        ("POST", "/v1/cells/{cell}/imports/{operationId}/cancel"): "NativeWriteFunction",
        ("POST", "/v1/cells/{cell}/imports/{operationId}/retry"): "NativeWriteFunction",
        ("GET", "/openapi.json"): "ApiDocsFunction",
        ("GET", "/docs"): "ApiDocsFunction",
        # CORS preflights (docs/api.md): a path's OPTIONS goes to a function serving it, the reading one
        # where two do.
        ("OPTIONS", "/{CellName}/__import"): "PersoniumStatusFunction",
        ("OPTIONS", "/api/v1/import.status"): "RocketChatStatusFunction",
        ("OPTIONS", "/api/v1/getCurrentImportOperation"): "RocketChatStatusFunction",
        ("OPTIONS", "/api/v1/getLatestImportOperations"): "RocketChatStatusFunction",
        ("OPTIONS", "/api/v1/getImportProgress"): "RocketChatStatusFunction",
        ("OPTIONS", "/api/v1/importers.list"): "RocketChatStatusFunction",
        ("OPTIONS", "/api/v1/getImportFileData"): "RocketChatStatusFunction",
        ("OPTIONS", "/api/v1/uploadImportFile"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/downloadPublicImportFile"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/startImport"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/downloadPendingFiles"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/downloadPendingAvatars"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/import.new"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/import.addUsers"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/import.run"): "RocketChatImportFunction",
        ("OPTIONS", "/api/v1/import.clear"): "RocketChatImportFunction",
        ("OPTIONS", "/v1/cells/{cell}/imports"): "NativeReadFunction",
        ("OPTIONS", "/v1/cells/{cell}/imports/{operationId}"): "NativeReadFunction",
        ("OPTIONS", "/v1/cells/{cell}/imports/{operationId}/errors"): "NativeReadFunction",
        ("OPTIONS", "/v1/cells/{cell}/uploads"): "NativeWriteFunction",
        ("OPTIONS", "/v1/cells/{cell}/uploads/{uploadId}/complete"): "NativeWriteFunction",
        ("OPTIONS", "/v1/cells/{cell}/imports/{operationId}/cancel"): "NativeWriteFunction",
        ("OPTIONS", "/v1/cells/{cell}/imports/{operationId}/retry"): "NativeWriteFunction",
    }


def test_api_stage_is_throttled_and_traced(template):
    api = template["Resources"]["ImportApi"]["Properties"]
    assert api["TracingEnabled"] == {"Fn::If": ["TracingEnabled", True, False]}
    (setting,) = api["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}


def test_every_handler_exists(template):
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        module, _, attribute = function["Properties"]["Handler"].rpartition(".")
        source = ROOT / function["Properties"]["CodeUri"] / f"{module}.py"
        assert f"def {attribute}(" in source.read_text(), name


def test_sam_validate_lint_passes():
    sam = Path(sys.executable).with_name("sam")
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"AWS_DEFAULT_REGION": "us-east-1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def state_machine(template):
    resource = template["Resources"]["ImportStateMachine"]["Properties"]
    definition = (ROOT / resource["DefinitionUri"]).read_text()
    return resource, json.loads(definition), definition


def tasks(states):
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if state["Type"] == "Map":
            yield from tasks(state["ItemProcessor"]["States"])


def test_every_substitution_of_the_asl_is_provided(state_machine):
    resource, _, text = state_machine
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(resource["DefinitionSubstitutions"])


def test_every_task_retries_lambda_service_errors_with_backoff_and_jitter(state_machine):
    _, definition, _ = state_machine
    for name, state in tasks(definition["States"]):
        retriers = [r for r in state["Retry"] if set(r["ErrorEquals"]) >= LAMBDA_SERVICE_ERRORS]
        assert retriers, name
        assert retriers[0]["BackoffRate"] >= 2 and retriers[0]["JitterStrategy"] == "FULL", name


def test_every_step_of_the_import_catches_into_the_failure_handler(state_machine):
    _, definition, _ = state_machine
    for name, state in definition["States"].items():
        if state["Type"] in ("Task", "Map") and name != "Failed":
            assert any("States.ALL" in c["ErrorEquals"] and c["Next"] == "Failed" for c in state["Catch"]), name


def test_batch_maps_read_manifests_with_an_s3_item_reader(state_machine):
    _, definition, _ = state_machine
    maps = [s for s in definition["States"].values() if s["Type"] == "Map"]
    assert len(maps) == 3
    for state in maps:
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert "ItemBatcher" not in state  # moto's interpreter rejects it


@pytest.mark.parametrize("function", ["ImportStageFunction", "ImportBatchFunction", "ImportPhaseFunction"])
def test_worker_functions_get_no_wildcard_actions(template, function):
    statements = [
        st for policy in template["Resources"][function]["Properties"]["Policies"] for st in policy["Statement"]
    ]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(action.endswith("*") for action in actions), function


def test_sam_build_packages_the_layer_for_python313_on_arm64(tmp_path):
    # Without Docker, sam build needs the runtime's Python on PATH: pyenv provides it on this machine kind.
    python313 = Path.home() / ".pyenv/versions/3.13.0/bin"
    assert (python313 / "python3.13").exists(), "the machine's pyenv Python 3.13 is needed to build for Lambda"
    sam = Path(sys.executable).with_name("sam")
    result = subprocess.run(
        [
            str(sam),
            "build",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(tmp_path / "build"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env=os.environ
        | {"AWS_DEFAULT_REGION": "us-east-1", "PATH": f"{python313}:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = tmp_path / "build" / "BulkImportLayer" / "python"
    assert (layer / "bulk_import" / "domain" / "operation.py").exists()
    assert list((layer / "bulk_import" / "dal" / "botocore_data").glob("*/*/service-2.json"))
    assert list((layer / "pydantic_core").glob("*cpython-313-aarch64-linux-gnu.so"))


def test_the_api_binary_media_types_are_those_the_snapshot_get_counts_on(template):
    """A GET of a snapshot file answers bytes only where API Gateway will pass them as bytes."""
    (api,) = resources_of_type(template, "AWS::Serverless::Api").values()
    configured = tuple(kind.replace("~1", "/") for kind in api["Properties"]["BinaryMediaTypes"])
    assert configured == BINARY_MEDIA_TYPES

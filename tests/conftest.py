"""Shared fixtures: moto in-process, the table and environment as template.yaml declares them."""

from __future__ import annotations

import importlib.util
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws

from bulk_import.settings import get_settings
from bulk_import.storage import ImportStore, default_store

ROOT = Path(__file__).resolve().parents[1]
TABLE_NAME = "bulk-import-test-ImportTable"


def _load_template() -> dict[str, Any]:
    decoded, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return decoded


def _function_environment(template: dict[str, Any]) -> dict[str, str]:
    """Globals.Function environment with Refs resolved: parameters to defaults, the table to ours."""
    physical = {"ImportTable": TABLE_NAME} | {
        name: str(parameter["Default"]) for name, parameter in template["Parameters"].items()
    }
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {
        name: physical[value["Ref"]] if isinstance(value, dict) else str(value) for name, value in variables.items()
    }


# As in Lambda, the environment exists before any handler module (and its Powertools singletons) loads.
os.environ.update(_function_environment(_load_template()) | {"POWERTOOLS_TRACE_DISABLED": "true"})


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return _load_template()


@pytest.fixture(scope="session")
def function_environment(template) -> dict[str, str]:
    return _function_environment(template)


@pytest.fixture
def aws(monkeypatch, function_environment):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true", **function_environment,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    default_store.cache_clear()
    with mock_aws():
        yield
    default_store.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def store(aws, template) -> ImportStore:
    properties = template["Resources"]["ImportTable"]["Properties"]
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE_NAME,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
    )
    return default_store()


@pytest.fixture
def dynamodb_requests(store) -> Counter:
    """Counts the DynamoDB API calls the handlers' store makes, by operation name."""
    calls: Counter = Counter()

    def count(model, **_):
        calls[model.name] += 1

    store.client.meta.events.register("before-call.dynamodb", count)
    return calls


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "test-request-id"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@pytest.fixture(scope="session")
def handlers(template) -> dict[str, Callable]:
    """Each template function's handler, loaded from its CodeUri under a unique module name."""
    loaded = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module_name, _, attribute = resource["Properties"]["Handler"].rpartition(".")
        path = ROOT / resource["Properties"]["CodeUri"] / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"handler_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded[name] = getattr(module, attribute)
    return loaded


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, list[str]]
    body: Any


@pytest.fixture
def invoke(handlers) -> Callable[[str, dict], HttpResult]:
    def call(function: str, event: dict) -> HttpResult:
        response = handlers[function](event, LambdaContext())
        headers = response.get("multiValueHeaders") or {k: [v] for k, v in (response.get("headers") or {}).items()}
        return HttpResult(response["statusCode"], headers, json.loads(response["body"]))

    return call


def load_event(relative_path: str) -> dict:
    return json.loads((ROOT / "events" / relative_path).read_text())

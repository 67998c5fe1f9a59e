"""Shared fixtures: moto in-process, the table and environment as template.yaml declares them.
What tests share besides fixtures is in tests/support."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import boto3
import pytest
from moto import mock_aws

from bulk_import.dal import aws_clients
from bulk_import.dal.dynamodb import ImportStore, default_store

# First: it sets the functions' environment and keeps moto's unused backends unloaded (moto_footprint),
# before anything imports moto's Step Functions interpreter (moto_stepfunctions below).
from tests.support.stack import FUNCTIONS, TEMPLATE

# isort: split
from bulk_import_local import moto_partiql, moto_stepfunctions, moto_transactions
from bulk_import_local.botocore_data import CalledOperations
from bulk_import_local.iam_policies import function_policies
from bulk_import_local.local_stack import clear_cached_clients
from bulk_import_local.sdk_boundary import SdkBoundary
from tests.support import session_operations
from tests.support.events import HttpResult, http_result


@pytest.fixture(scope="session")
def function_environment() -> dict[str, str]:
    return FUNCTIONS.environment()


@pytest.fixture
def moto_aws(monkeypatch, function_environment):
    """In-process moto, as kind as it is (the SDK boundary's own tests compare against it)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **function_environment,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    clear_cached_clients()
    with mock_aws():
        yield
    clear_cached_clients()


@pytest.fixture
def aws(moto_aws):
    """moto behind the strict SDK boundary: it refuses what AWS refuses and moto accepts (item size,
    nesting, numbers, batch sizes, payloads, and what a function's IAM policy does not allow), so a
    test fails where AWS would."""
    undo_transactions = moto_transactions.install()  # as the local stack: one at a time, undoing only their items
    undo_partiql = moto_partiql.install()  # as the local stack: DynamoDB's INSERT
    undo_stop = moto_stepfunctions.install_stop_after_start()  # as the local stack: a stop never fails in moto
    undo = SdkBoundary(strict=True, policies=function_policies(TEMPLATE.raw)).install()
    yield
    undo()
    undo_stop()
    undo_partiql()
    undo_transactions()


@pytest.fixture
def store(aws) -> ImportStore:
    """The template's table, bucket and state machine on in-process moto (executions are recorded,
    not run: tests/local runs them)."""
    for name, arguments in TEMPLATE.tables().items():
        boto3.client("dynamodb").create_table(TableName=name, **arguments)
    for name in TEMPLATE.buckets():
        boto3.client("s3").create_bucket(Bucket=name)
    for name in TEMPLATE.event_buses():
        boto3.client("events").create_event_bus(Name=name)
    for name, definition in TEMPLATE.state_machines().items():
        boto3.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/bulk-import-test"
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


@pytest.fixture
def invoke() -> Callable[[str, dict], HttpResult]:
    def call(function: str, event: dict) -> HttpResult:
        return http_result(FUNCTIONS.invoke(function, event))

    return call


# -- what the layer's clients reach for, over the whole session ---------------------------------------

#: Checked once every test has run (tests/support/session_operations.py).
_LAYER_OPERATIONS = CalledOperations(aws_clients.DATA_PATH)
_WORKER_OUTPUT_KEY = "layer_operations"


def pytest_configure(config: pytest.Config) -> None:
    config.add_cleanup(_LAYER_OPERATIONS.install())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist's controller: a worker's recording, sent as it ended (pytest_sessionfinish)."""
    _LAYER_OPERATIONS.add(tuple(operation) for operation in node.workeroutput.get(_WORKER_OUTPUT_KEY, []))


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its controller checks every worker's together
        workeroutput[_WORKER_OUTPUT_KEY] = sorted(_LAYER_OPERATIONS.seen)
        return
    found = session_operations.problems(_LAYER_OPERATIONS.seen, session_operations.whole_suite(session.config))
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.ensure_newline()
        for problem in found:
            reporter.write_line(f"session check failed: {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def layer_operations() -> CalledOperations:
    """The (service, operation) pairs the layer's clients called, presigned or asked for so far."""
    return _LAYER_OPERATIONS

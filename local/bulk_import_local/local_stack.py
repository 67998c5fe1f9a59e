"""The local stack: moto in server mode standing in for DynamoDB, S3, Lambda and Step Functions,
holding what template.yaml declares, with the API routes served on a local port.

Only for running and testing the real template, ASL and handlers on one machine; production is
AWS itself.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import zipfile
from pathlib import Path

import boto3
import requests
from moto.server import ThreadedMotoServer

from bulk_import_local import moto_footprint

moto_footprint.skip_unused_backends()  # before moto's Step Functions interpreter is imported (below)

from bulk_import.dal.dynamodb import ImportStore, default_store  # noqa: E402
from bulk_import.dal.dynamodb.attributes import KeyAttribute  # noqa: E402
from bulk_import.dal.dynamodb.directory_items import directory_key, entry_of_key  # noqa: E402
from bulk_import.dal.eventbridge import default_publisher  # noqa: E402
from bulk_import.dal.s3 import default_files  # noqa: E402
from bulk_import.dal.stepfunctions import default_executions  # noqa: E402
from bulk_import.domain.records.staged import RecordType  # noqa: E402
from bulk_import.settings import get_import_settings, get_settings  # noqa: E402
from bulk_import_local import moto_partiql, moto_queries, moto_stepfunctions, moto_streams, moto_transactions  # noqa: E402
from bulk_import_local.call_log import CallLog  # noqa: E402
from bulk_import_local.execution_environments import counterparts  # noqa: E402
from bulk_import_local.functions_host import FunctionsHost, install_lambda_seam  # noqa: E402
from bulk_import_local.gateway import make_server  # noqa: E402
from bulk_import_local.iam_policies import function_policies  # noqa: E402
from bulk_import_local.sam_template import ACCOUNT, REGION, SamTemplate  # noqa: E402
from bulk_import_local.sdk_boundary import SdkBoundary  # noqa: E402

#: Where `sam` finds the template: in the current directory.
DEFAULT_TEMPLATE = Path("template.yaml")
#: Template parameters the local stack overrides, like `sam local --parameter-overrides`: moto's
#: interpreter runs only STANDARD children in a Distributed Map, and one process gains nothing from
#: more than a few concurrent batches (docs/capacity.md).
LOCAL_PARAMETERS = {"BatchExecutionType": "STANDARD", "BatchConcurrency": "4", "ReconcileAfterSeconds": "5"}
_ROLE = f"arn:aws:iam::{ACCOUNT}:role/bulk-import-local"
#: AWS calls `stack.boundary.calls` keeps by default (call_log.py): enough for any test's flow,
#: bounded for a long-running stack (about 2 KB each).
KEEP_CALLS = 20_000
#: What `bulk-import serve` keeps: nobody reads them there (bench/import_run.py subscribes instead),
#: and a BatchExecuteStatement's record holds its 25 items (~95 KB of Python objects, tracemalloc).
SERVE_KEEP_CALLS = 100


class LocalStack:
    region = REGION

    def __init__(
        self,
        template_path: Path = DEFAULT_TEMPLATE,
        moto_port: int = 0,
        api_port: int = 3000,
        keep_calls: int = KEEP_CALLS,
        parameter_overrides: dict[str, str] | None = None,
    ):
        """`parameter_overrides`: template parameters set as `sam local --parameter-overrides` sets them,
        over the template's defaults and LOCAL_PARAMETERS; a name the template lacks is a ValueError."""
        self.template_path = template_path.resolve()
        self.template = SamTemplate(self.template_path, LOCAL_PARAMETERS | (parameter_overrides or {}))
        if unknown := sorted(set(parameter_overrides or {}) - set(self.template.raw.get("Parameters", {}))):
            raise ValueError(f"{', '.join(unknown)}: no such parameter in {template_path}")
        self.host = FunctionsHost(
            self.template.functions(), function_timeouts(self.template), function_concurrency(self.template)
        )
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self._api_port = api_port
        self._undo_patches: list = []
        self._api = None
        #: AWS's limits at the SDK boundary, always on; tests inject faults through it.
        self.boundary = SdkBoundary(strict=True, policies=function_policies(self.template.raw))
        self.boundary.calls = CallLog(keep_calls)  # type: ignore[assignment]  # the latest calls (call_log.py)

    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
        self._undo_patches = [moto_footprint.install()]  # before moto builds anything (moto_footprint.py)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # The interpreter's own calls (Lambda tasks, the S3 ItemReader) go to localhost:$MOTO_PORT.
        os.environ.update(
            {
                "MOTO_PORT": str(port),
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.environ.update(self.host.environment())
        clear_cached_clients()  # created earlier in this process, they would talk to another moto
        requests.post(
            f"{self.endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        ).raise_for_status()
        # Each patch makes moto behave like AWS where the worker depends on it (see each module's docstring).
        self._undo_patches += [
            install_lambda_seam(self.host),
            moto_transactions.install(),
            moto_partiql.install(),
            moto_streams.install(),
            moto_queries.install(),
            moto_stepfunctions.install(),
            self.boundary.install(),
        ]
        self._create_resources()
        self._api = make_server(
            self.host,
            self.template.routes(),
            self.template.api_stage(),
            self._api_port,
            self.template.binary_media_types(),
        )
        threading.Thread(target=self._api.serve_forever, daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self._api.server_address[1]}"
        return self

    def stop(self) -> None:
        clear_cached_clients()
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        self.host.discard_environments()
        # moto's resources live in the process, not in its server: reset (moto's documented reset API)
        # so that a stack started next in this process starts empty.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        for undo in reversed(self._undo_patches):  # patches may wrap earlier ones
            undo()
        self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def store(self) -> ImportStore:
        return ImportStore(os.environ["TABLE_NAME"], boto3.client("dynamodb"))

    def directory_keys(self, cell: str) -> list[tuple[str, str]]:
        """The (kind, identity) of every entry of the cell's directory, read off moto in this process.
        A Scan tells the same at the cost of every item of the table, serialized (about 2.5 ms an item
        on 2 cores): on a stack that keeps every run's items, as the tests' and the fault matrix's do,
        a look at one cell took minutes by the end of a run."""
        from moto.dynamodb.models import dynamodb_backends

        prefixes = tuple(directory_key(cell, kind, "")[KeyAttribute.PK] for kind in RecordType)
        partitions = dynamodb_backends[ACCOUNT][REGION].get_table(os.environ["TABLE_NAME"]).items
        found = list(partitions.items())  # (a partition whose items were deleted stays, empty)
        return [entry_of_key(key.value) for key, items in found if items and key.value.startswith(prefixes)]

    def _create_resources(self) -> None:
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        for name, arguments in self.template.tables().items():
            dynamodb.create_table(TableName=name, **arguments)
        for name in self.template.buckets():
            s3.create_bucket(Bucket=name)
        # State machines (and `aws lambda invoke`) call functions by name: moto needs them to exist;
        # the seam runs their handlers.
        lambda_client = boto3.client("lambda")
        boto3.client("iam").create_role(RoleName="bulk-import-local", AssumeRolePolicyDocument="{}")
        for function in self.host.functions.values():
            lambda_client.create_function(
                FunctionName=function.name,
                Runtime="python3.12",
                Role=_ROLE,
                Handler=f"{function.module}.{function.attribute}",
                Code={"ZipFile": _empty_zip()},
            )
            if function.alias:  # AutoPublishAlias: the state machine invokes <name>:<alias>
                version = lambda_client.publish_version(FunctionName=function.name)["Version"]
                lambda_client.create_alias(FunctionName=function.name, Name=function.alias, FunctionVersion=version)
        # Lambda reads the table's stream: moto calls the function in the writer's request, with
        # the records the template's filter matches (moto_streams.py).
        for logical_id, table, properties in self.template.stream_subscriptions():
            stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            lambda_client.create_event_source_mapping(
                EventSourceArn=stream_arn,
                FunctionName=self.host.functions[logical_id].name,
                StartingPosition=properties["StartingPosition"],
                FilterCriteria=properties.get("FilterCriteria", {}),
            )
        events = boto3.client("events")
        for name in self.template.event_buses():
            events.create_event_bus(Name=name)
        stepfunctions = boto3.client("stepfunctions")
        for name, definition in self.template.state_machines().items():
            stepfunctions.create_state_machine(name=name, definition=definition, roleArn=_ROLE)


def function_timeouts(template: SamTemplate) -> dict[str, float]:
    """Each function's Timeout in seconds, from its properties or the template's Globals (Lambda's
    default is 3)."""
    default = template.raw.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    return {
        logical_id: float(template.resolve(resource["Properties"].get("Timeout", default)))
        for logical_id, resource in template.resources("AWS::Serverless::Function").items()
    }


def function_concurrency(template: SamTemplate) -> dict[str, int]:
    """The ReservedConcurrentExecutions of each function that has one, from its properties or the
    template's Globals: at most that many of its execution environments at once."""
    default = template.raw.get("Globals", {}).get("Function", {}).get("ReservedConcurrentExecutions")
    reserved = {
        logical_id: template.resolve(resource["Properties"].get("ReservedConcurrentExecutions", default))
        for logical_id, resource in template.resources("AWS::Serverless::Function").items()
    }
    return {logical_id: int(value) for logical_id, value in reserved.items() if value is not None}


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


def clear_cached_clients() -> None:
    """Forgets the layer's settings and clients, which point at one AWS (one moto) at a time: the
    process's, and those of every execution environment's copy of the layer."""
    for cached in (
        get_settings,
        get_import_settings,
        default_store,
        default_files,
        default_executions,
        default_publisher,
    ):
        for instance in (cached, *counterparts(cached)):
            instance.cache_clear()

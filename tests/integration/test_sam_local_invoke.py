"""`sam local invoke FUNCTION -e events/... --env-vars env.json` without Docker: every file in events/
answered as SAM answers it, through the env.json `bulk-import sam-env --local` writes.

What SAM does, step by step, and how this does it:
- the function's environment: SAM CLI's own code (samcli is a dev dependency, pinned), as
  `sam local invoke` calls it: SamLocalStackProvider and SamFunctionProvider read template.yaml (SAM's
  Globals plugin, then its intrinsic resolver), LocalLambdaRunner._make_env_vars applies env.json
  (`Parameters`, then the function's own object) over the shell's and the template's values for the
  variables the template declares, and adds the AWS_* runtime variables and credentials;
- the container: a fresh Python process per invocation with only that environment, the function's
  CodeUri as working directory and, on PYTHONPATH, the CodeUri then the layer (/var/task, /opt/python);
- AWS: one moto server for the module, holding what the local stack creates from template.yaml,
  reset and seeded with the demo data before each event (tests/integration/test_events.py does the
  same in-process and owns the expectations, reused here).

Each process also reports the packages it loaded: the status and read functions must answer every
event without pydantic (the reads clients poll stay lean: docs/decisions/0002-cold-start-budget.md);
the write functions validate their bodies with pydantic models, through Powertools' event handler.

Differences left: the process runs this venv's Python (3.11) and packages, where the container has
the runtime's Python (python3.13) and the layer's pinned requirements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

from bulk_import.dal.dynamodb import ImportStore
from bulk_import.dal.s3 import ImportFiles
from bulk_import_cli import main as cli
from bulk_import_cli.demo import seed_demo
from bulk_import_cli.stack_state import StackInfo
from bulk_import_local.local_stack import LOCAL_PARAMETERS
from bulk_import_local.sam_template import REGION, SamTemplate
from tests.support.event_answers import EVENT_FILES, NOT_HTTP, assert_expected_answer
from tests.support.events import http_result
from tests.support.stack import ROOT

# samtranslator and samcli call their own deprecated APIs.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TEMPLATE = ROOT / "template.yaml"
#: The AWS_* variables SAM sets in every container (samcli/local/lambdafn/env_vars.py), not the template's.
SAM_RUNTIME_VARIABLES = {
    "AWS_SAM_LOCAL",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_TIMEOUT",
    "AWS_LAMBDA_FUNCTION_HANDLER",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCOUNT_ID",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
}
#: The shell `sam local invoke` runs in: credentials, and none of the template's variables (SAM
#: would take a declared variable's value from the shell, below env.json).
SHELL = {
    "AWS_ACCESS_KEY_ID": "sam-local",
    "AWS_SECRET_ACCESS_KEY": "sam-local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
#: What the container's runtime does with the handler (awslambdaric, much reduced): import it from
#: AWS_LAMBDA_FUNCTION_HANDLER, call it with the event and a context, write the JSON it returns.
RUNTIME = """
import importlib, json, os, sys, time, uuid

class LambdaContext:
    def __init__(self):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = (f"arn:aws:lambda:{os.environ['AWS_REGION']}:{os.environ['AWS_ACCOUNT_ID']}"
                                     f":function:{self.function_name}")
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self._deadline = time.monotonic() + int(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"])

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

event_path, result_path = sys.argv[1:]
module, _, attribute = os.environ["AWS_LAMBDA_FUNCTION_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(module), attribute)
with open(event_path) as file:
    event = json.load(file)
result = handler(event, LambdaContext())
with open(result_path, "w") as file:
    json.dump({"answer": result, "packages": sorted({name.partition(".")[0] for name in sys.modules})}, file)
"""
#: Events answered with pydantic loaded: the write functions' (their bodies' models and Powertools'
#: validation), Swagger UI (Powertools' page loads its OpenAPI models) and the functions not on the API.
WITH_PYDANTIC = (
    "NativeWriteFunction/",
    "PersoniumImportFunction/",
    "RocketChatImportFunction/",
    "ImportSweeperFunction/",
    "ImportEventsFunction/",
    "ApiDocsFunction/docs.json",
)


class SamLocal:
    """`sam local invoke` against a moto server holding the local stack's resources."""

    def __init__(self, endpoint: str, info: StackInfo, workdir: Path) -> None:
        self.endpoint = endpoint
        self.logs = ""
        #: The top-level packages the last invocation's process had loaded when it answered.
        self.packages: set[str] = set()
        self.template = SamTemplate(TEMPLATE, info.parameters)
        self.workdir = workdir
        self._clients = {
            service: boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
            for service in ("dynamodb", "s3", "events", "stepfunctions")
        }
        with self._shell():  # template.yaml as SAM reads it: its Globals merged, its intrinsics resolved
            stacks, _ = SamLocalStackProvider.get_stacks(
                str(TEMPLATE), global_parameter_overrides={"AWS::Region": REGION}
            )
            self.functions = SamFunctionProvider(stacks)

    def _shell(self) -> AbstractContextManager[Any]:
        """The shell `sam local invoke` runs in (SHELL): no value for any variable the template declares."""
        declared = {name for function in self.template.functions().values() for name in function.environment}
        shell = {name: value for name, value in os.environ.items() if name not in declared | {"AWS_ENDPOINT_URL"}}
        return mock.patch.dict(os.environ, shell | SHELL, clear=True)

    def environments(self, env_vars: dict | None) -> dict[str, dict[str, str]]:
        """Each function's environment, as `sam local invoke --env-vars` with this content makes it."""
        with self._shell():
            runner = LocalLambdaRunner(
                local_runtime=None,
                function_provider=self.functions,
                cwd=str(ROOT),
                real_path=str(ROOT),
                aws_region=REGION,
                env_vars_values=env_vars,
            )
            return {function.name: runner._make_env_vars(function).resolve() for function in self.functions.get_all()}

    def reset(self) -> None:
        """Empty moto, then what the local stack creates (local_stack.py) and the demo data."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        for name, arguments in self.template.tables().items():
            self._clients["dynamodb"].create_table(TableName=name, **arguments)
        for name in self.template.buckets():
            self._clients["s3"].create_bucket(Bucket=name)
        for name in self.template.event_buses():
            self._clients["events"].create_event_bus(Name=name)
        for name, definition in self.template.state_machines().items():  # executions are recorded, not run
            self._clients["stepfunctions"].create_state_machine(
                name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/bulk-import-local"
            )
        seed_demo(
            ImportStore(self.template.physical_name("ImportTable"), self._clients["dynamodb"]),
            self.template.parameters["RocketChatCell"],
            ImportFiles(self.template.physical_name("ImportBucket"), self._clients["s3"]),
        )

    def invoke(self, function: str, event_file: str, environment: dict[str, str]) -> dict:
        """The handler's answer, run in a fresh process with only the container's environment."""
        sam_function = self.functions.get(function)
        code = ROOT / sam_function.codeuri  # /var/task
        layers = [str(ROOT / layer.codeuri) for layer in sam_function.layers]  # /opt/python
        result = self.workdir / "result.json"
        result.unlink(missing_ok=True)
        completed = subprocess.run(
            [sys.executable, "-c", RUNTIME, str(ROOT / "events" / event_file), str(result)],
            env=environment | {"PYTHONPATH": os.pathsep.join([str(code), *layers])},
            cwd=code,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr[-4000:]
        self.logs = completed.stdout  # what the function printed: Powertools' JSON logs and metrics
        written = json.loads(result.read_text())
        self.packages = set(written["packages"])
        return written["answer"]


@pytest.fixture(scope="module")
def sam_local(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sam-local")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # This process stands for `bulk-import serve`; its API port is moto's (StackInfo.running() probes it).
        info = StackInfo(
            endpoint=endpoint,
            api_url=endpoint,
            region=REGION,
            parameters=SamTemplate(TEMPLATE, LOCAL_PARAMETERS).parameters,
            template=str(TEMPLATE),
        )
        with mock.patch.dict(os.environ, {"BULK_IMPORT_STATE_FILE": str(workdir / ".local-stack.json")}):
            info.save()
            # No Docker here: the "container" is a process on this machine, so moto is at 127.0.0.1.
            assert (
                cli.main(["sam-env", "--local", "--endpoint-host", "127.0.0.1", "--output", str(workdir / "env.json")])
                == 0
            )
        yield SamLocal(endpoint, info, workdir)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def env_json(sam_local) -> dict:
    return json.loads((sam_local.workdir / "env.json").read_text())


@pytest.fixture(scope="module")
def environments(sam_local, env_json) -> dict[str, dict[str, str]]:
    return sam_local.environments(env_json)


def test_without_env_json_sam_sets_logical_ids_and_the_handler_answers_500(sam_local):
    """The issue: SAM resolves `!Ref ImportTable` to the logical id, a table that does not exist."""
    without = sam_local.environments(None)
    assert without["PersoniumStatusFunction"]["TABLE_NAME"] == "ImportTable"
    assert without["PersoniumStatusFunction"]["IMPORT_BUCKET"] == "ImportBucket"
    assert without["NativeWriteFunction"]["STATE_MACHINE_ARN"] == "ImportStateMachine"
    assert without["ImportEventsFunction"]["EVENT_BUS_NAME"] == "ImportEventBus"
    assert without["PersoniumStatusFunction"]["AWS_ENDPOINT_URL"] == ""  # AWS::NoValue: "", boto3's default endpoint
    sam_local.reset()

    # Even pointed at the local stack's moto, the function reads a table named ImportTable.
    only_endpoint = sam_local.environments({"Parameters": {"AWS_ENDPOINT_URL": sam_local.endpoint}})
    response = sam_local.invoke(
        "PersoniumStatusFunction",
        "PersoniumStatusFunction/status-in-progress.json",
        only_endpoint["PersoniumStatusFunction"],
    )

    assert (http_result(response).status, http_result(response).body["code"]) == (500, "PR500-SV-0000")
    assert "ResourceNotFoundException" in sam_local.logs


def test_env_json_gives_every_function_the_local_stacks_environment(sam_local, env_json, environments):
    local = {name: function.environment for name, function in sam_local.template.functions().items()}
    assert set(environments) == set(local)
    for name, environment in environments.items():
        template_variables = {k: v for k, v in environment.items() if k not in SAM_RUNTIME_VARIABLES}
        assert template_variables == local[name] | {"AWS_ENDPOINT_URL": sam_local.endpoint}, name
    # SAM sets only what a function declares: env.json's EVENT_BUS_NAME reaches the events function alone.
    assert "EVENT_BUS_NAME" in env_json["Parameters"]
    assert [name for name, env in environments.items() if "EVENT_BUS_NAME" in env] == ["ImportEventsFunction"]


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_sam_local_invoke_of_an_event_file(event_file, sam_local, environments):
    function = Path(event_file).parts[0]
    sam_local.reset()

    response = sam_local.invoke(function, event_file, environments[function])

    if event_file in NOT_HTTP:
        assert NOT_HTTP[event_file](response), response
    else:
        assert_expected_answer(event_file, http_result(response))
    assert ("pydantic" in sam_local.packages) == event_file.startswith(WITH_PYDANTIC), sam_local.packages

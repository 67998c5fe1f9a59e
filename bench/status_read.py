"""Latency of every status and API route against its floor (a benchmark, not a test: it asserts nothing).

For each route, with one event of events/ (the budgets of docs/decisions/0002-cold-start-budget.md):

- requests: the AWS requests the route makes, recorded as the handler makes them.
- cold (goal ≤ 1.0 for the status reads clients poll, ≤ 1.6 for every other route): a fresh
  interpreter imports the handler module and handles the event, against
  the floor: a fresh interpreter that imports boto3, creates one DynamoDB client and makes one
  GetItem. Both run as on Lambda:
  - they import only what a function can import there: the layer (its package and the closure of
    its requirements.txt) and the runtime's boto3. Not this virtualenv, where boto3 also loads
    awscrt and pyOpenSSL: a third more work for the floor than on Lambda;
  - with Lambda's variables, X-Ray's trace id among them (the X-Ray SDK, where a function loads
    it, traces as it does there);
  - with bytecode, as a deployment built by `make build` has.
  Each side is timed from its first import to the answer (the interpreter's own start is the same
  on both), as its CPU time plus the time its requests wait for moto's answers (measured warm,
  below): on this shared machine the wall time of a cold start swings by a fifth from run to run,
  its CPU time by a fiftieth.
- warm (goal ≤ 1.3): the handler in this process, against the same requests made bare: fresh
  boto3 clients replaying what the handler sent, together where the handler had them in flight
  together. Wall time.

Each figure is the median of pairs (the function, then its baseline, back to back) of one run:
only ratios measured side by side mean anything here. moto serves both sides from a child
process. A route that writes starts every sample, on both sides, from the same state: moto is
reset and the seeded items and objects put back (untimed).

Run: .venv/bin/python bench/status_read.py [--requests 300] [--write-requests 60] [--cold 9] [--only TEXT]
(`make bench` prints these rows with the other benchmarks' through bench/run.py).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import boto3  # noqa: E402
import botocore.signers  # noqa: E402
from botocore import xform_name  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from table import Figure, Row, print_table  # noqa: E402

from bulk_import.dal.dynamodb import default_store  # noqa: E402
from bulk_import.dal.s3 import default_files  # noqa: E402
from bulk_import_cli.demo import seed_demo  # noqa: E402
from bulk_import_local.functions_host import FunctionsHost  # noqa: E402
from bulk_import_local.local_stack import LOCAL_PARAMETERS  # noqa: E402
from bulk_import_local.sam_template import SamTemplate  # noqa: E402

#: Cold, the status reads clients poll (Route.polled) and every other route; warm, every route.
POLLED_COLD_GOAL, COLD_GOAL, WARM_GOAL = 1.0, 1.6, 1.3
HANDLER_OUTPUT = open(os.devnull, "w")  # noqa: SIM115 (open for the life of the process)


@dataclass(frozen=True)
class Route:
    name: str
    function: str
    #: Under events/<function>/.
    event: str
    #: The route writes: every sample starts from the seeded state.
    writes: bool = False
    #: A status read clients poll while an import runs: its cold start has the lean budget.
    polled: bool = False

    @property
    def cold_goal(self) -> float:
        return POLLED_COLD_GOAL if self.polled else COLD_GOAL


ROUTES = [
    Route("Personium GET /{cell}/__import", "PersoniumStatusFunction", "status-in-progress.json", polled=True),
    Route("Rocket.Chat GET import.status", "RocketChatStatusFunction", "import-status.json", polled=True),
    Route(
        "Rocket.Chat GET getCurrentImportOperation",
        "RocketChatStatusFunction",
        "get-current-import-operation.json",
        polled=True,
    ),
    Route(
        "Rocket.Chat GET getLatestImportOperations",
        "RocketChatStatusFunction",
        "get-latest-import-operations.json",
        polled=True,
    ),
    Route("Rocket.Chat GET getImportProgress", "RocketChatStatusFunction", "get-import-progress.json", polled=True),
    Route("Rocket.Chat GET importers.list", "RocketChatStatusFunction", "importers-list.json"),
    # Its selection, which loads the S3 client; polled while it answers `waiting`, which does not.
    Route("Rocket.Chat GET getImportFileData", "RocketChatStatusFunction", "get-import-file-data.json"),
    Route("/v1 GET imports/{id}", "NativeReadFunction", "get-import.json", polled=True),
    Route("/v1 GET imports (history)", "NativeReadFunction", "list-imports.json"),
    Route("/v1 GET imports/{id}/errors", "NativeReadFunction", "list-errors.json"),
    Route("/v1 GET imports/{id}/errors (CSV)", "NativeReadFunction", "list-errors-csv.json", writes=True),
    Route("/v1 POST uploads", "NativeWriteFunction", "create-upload.json", writes=True),
    Route("/v1 POST uploads (multipart)", "NativeWriteFunction", "create-upload-multipart.json", writes=True),
    Route("/v1 POST imports (upload)", "NativeWriteFunction", "start-import-upload.json", writes=True),
    Route(
        "/v1 POST imports (records, Idempotency-Key)", "NativeWriteFunction", "start-import-records.json", writes=True
    ),
    Route("/v1 POST imports/{id}/cancel", "NativeWriteFunction", "cancel-import.json", writes=True),
    Route("/v1 POST imports/{id}/retry", "NativeWriteFunction", "retry-import.json", writes=True),
    Route("Personium POST /{cell}/__import", "PersoniumImportFunction", "start-import.json", writes=True),
    Route("Personium PUT /{cell}/__snapshot/{name}", "PersoniumImportFunction", "put-snapshot.json", writes=True),
    Route("Personium GET /{cell}/__snapshot/{name}", "PersoniumImportFunction", "get-snapshot.json"),
    Route("Personium PROPFIND /{cell}/__snapshot", "PersoniumImportFunction", "propfind-snapshots.json"),
    Route("Personium DELETE /{cell}/__snapshot/{name}", "PersoniumImportFunction", "delete-snapshot.json", writes=True),
    Route("Rocket.Chat POST import.new", "RocketChatImportFunction", "import-new.json", writes=True),
    Route("Rocket.Chat POST import.addUsers", "RocketChatImportFunction", "import-add-users.json", writes=True),
    Route("Rocket.Chat POST import.run", "RocketChatImportFunction", "import-run.json", writes=True),
    Route("Rocket.Chat POST import.clear", "RocketChatImportFunction", "import-clear.json", writes=True),
    Route("Rocket.Chat POST uploadImportFile", "RocketChatImportFunction", "upload-import-file.json", writes=True),
    Route("GET /openapi.json", "ApiDocsFunction", "openapi-json.json"),
    Route("GET /docs", "ApiDocsFunction", "docs.json"),
]

#: The floor's one request: a GetItem of the demo cell.
FLOOR_KEY = {"PK": {"S": "CELL#demo"}, "SK": {"S": "CELL"}}

#: Both cold programs print their CPU time from their first import to the answer.
FLOOR = f"""
import os, time
started = time.process_time()
import boto3
boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"], Key={FLOOR_KEY!r})
print(time.process_time() - started)
"""

#: argv: the handler's file, the event's file, the status code the answer must have.
COLD_FUNCTION = """
import importlib.util, io, json, sys, time, contextlib
event = json.loads(open(sys.argv[2]).read())

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self): return 10_000

context, printed = Context(), io.StringIO()
started = time.process_time()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
handler_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(handler_module)
with contextlib.redirect_stdout(printed):  # the metrics (EMF) a handler prints, as in Lambda
    answer = handler_module.lambda_handler(event, context)
elapsed = time.process_time() - started
assert answer["statusCode"] == int(sys.argv[3]), answer
print(elapsed)
"""


# -- the AWS side -------------------------------------------------------------------------------


class MotoServer:
    """moto in a child process, so that it takes no share of this process's interpreter."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1).close()
                return
            time.sleep(0.05)
        raise RuntimeError("moto did not start")

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).close()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait()


class Stack:
    """The template's table, bucket and state machines on moto, with the demo data.

    `restore()` brings back the seeded state exactly (items, objects, their ids and times), so
    that a write the handler made (guarded by conditions on what it read) can be made again bare.
    """

    def __init__(self, template: SamTemplate, moto: MotoServer) -> None:
        self.template, self.moto = template, moto
        self._items: dict[str, list[dict[str, Any]]] = {}
        self._objects: dict[tuple[str, str], bytes] = {}

    def seed(self) -> None:
        self._create()
        seed_demo(default_store(), os.environ["ROCKETCHAT_CELL"], default_files())
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        self._items = {
            table: [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
            for table in self.template.tables()
        }
        self._objects = {
            (bucket, listed["Key"]): s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read()
            for bucket in self.template.buckets()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for listed in page.get("Contents", [])
        }

    def restore(self) -> None:
        self.moto.reset()
        self._create()
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        for table, items in self._items.items():
            for start in range(0, len(items), 25):
                dynamodb.batch_write_item(
                    RequestItems={table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
                )
        for (bucket, key), body in self._objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _create(self) -> None:
        dynamodb, s3, stepfunctions = boto3.client("dynamodb"), boto3.client("s3"), boto3.client("stepfunctions")
        for name, arguments in self.template.tables().items():
            dynamodb.create_table(TableName=name, **arguments)
        for name in self.template.buckets():
            s3.create_bucket(Bucket=name)
        for name, definition in self.template.state_machines().items():
            stepfunctions.create_state_machine(
                name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/bench"
            )


#: What Lambda's Python runtime has besides the standard library: its SDK.
RUNTIME_PACKAGES = ["boto3"]
#: Variables Lambda sets that the libraries read, for the cold runs. The X-Ray SDK sends its
#: segments by UDP to the daemon address, where nothing listens here.
LAMBDA_VARIABLES = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
}


def lambda_site(directory: Path) -> None:
    """Fills `directory` with links to what a function can import on Lambda (the cold runs use it as
    their only path): the layer's package, the closure of the layer's requirements.txt, and the
    runtime's SDK with its dependencies."""
    requirements = [
        Requirement(line)
        for line in (ROOT / "layers/bulk_import/requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pending = [(requirement.name, frozenset(requirement.extras)) for requirement in requirements]
    pending += [(name, frozenset()) for name in RUNTIME_PACKAGES]
    linked: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        distribution = importlib.metadata.distribution(name)
        if (distribution.name.lower(), extras) in linked:
            continue
        linked.add((distribution.name.lower(), extras))
        for top in {path.parts[0] for path in distribution.files or []}:
            if (
                not top.endswith((".dist-info", ".data"))
                and top not in ("..", "__pycache__", "bin")
                and not (directory / top).exists()
            ):
                (directory / top).symlink_to(Path(distribution.locate_file(top)))
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in extras or {""}
            ):
                pending.append((requirement.name, frozenset(requirement.extras)))
    (directory / "bulk_import").symlink_to(ROOT / "layers/bulk_import/bulk_import")


# -- recording and replaying SDK calls ----------------------------------------------------------


@dataclass
class Call:
    """One SDK call as a handler made it: a request, or a presigned URL (made without a request)."""

    service: str
    operation: str
    params: dict[str, Any]
    started: float
    ended: float = 0.0
    #: "ok", or the error code AWS answered.
    outcome: str = "ok"
    presign: bool = False

    def describe(self) -> str:
        service = {"dynamodb": "", "s3": "S3 ", "stepfunctions": "SFN "}.get(self.service, f"{self.service} ")
        return f"{'presign ' if self.presign else ''}{service}{self.operation}"


class Recorder:
    """Records the SDK calls of this process while `recording()` is entered."""

    def __init__(self) -> None:
        self._calls: list[Call] | None = None
        self._lock = threading.Lock()
        original_call = BaseClient._make_api_call
        original_presign = botocore.signers.generate_presigned_url
        recorder = self

        def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if recorder._calls is None:
                return original_call(client, operation, params)
            body = params.get("Body")
            if hasattr(body, "read"):  # a stream is read once: keep its bytes for the replay
                params = params | {"Body": body.read()}
            call = recorder._record(client, operation, params)
            try:
                return original_call(client, operation, params)
            except ClientError as exc:
                call.outcome = exc.response["Error"]["Code"]
                raise
            finally:
                call.ended = time.perf_counter()

        def generate_presigned_url(
            client: BaseClient,
            ClientMethod: str,
            Params: dict[str, Any] | None = None,
            ExpiresIn: int = 3600,
            HttpMethod: str | None = None,
        ) -> str:
            if recorder._calls is None:
                return original_presign(client, ClientMethod, Params, ExpiresIn, HttpMethod)
            operation = client.meta.method_to_api_mapping[ClientMethod]
            call = recorder._record(client, operation, {"Params": Params, "ExpiresIn": ExpiresIn}, presign=True)
            try:
                return original_presign(client, ClientMethod, Params, ExpiresIn, HttpMethod)
            finally:
                call.ended = time.perf_counter()

        BaseClient._make_api_call = make_api_call
        # Clients take generate_presigned_url from this module when their class is created, which
        # for every client here (the handlers' and the replay's) happens after this.
        botocore.signers.generate_presigned_url = generate_presigned_url

    def _record(self, client: BaseClient, operation: str, params: dict[str, Any], presign: bool = False) -> Call:
        call = Call(client.meta.service_model.service_name, operation, params, time.perf_counter(), presign=presign)
        with self._lock:
            self._calls.append(call)
        return call

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Call]]:
        self._calls = calls = []
        try:
            yield calls
        finally:
            self._calls = None


class Replay:
    """A handler's calls made again with fresh, default boto3 clients: what the route costs bare.
    Calls the handler had in flight together are made together (on a pool created once, as the
    store's is), the others one after the other."""

    def __init__(self, calls: list[Call]) -> None:
        self.calls = calls
        self.clients = {service: boto3.client(service) for service in {call.service for call in calls}}
        self.waves: list[list[Call]] = []
        busy_until = 0.0
        for call in sorted(calls, key=lambda call: call.started):
            if self.waves and call.started < busy_until:
                self.waves[-1].append(call)
            else:
                self.waves.append([call])
            busy_until = max(busy_until, call.ended)
        self._pool = ThreadPoolExecutor(max_workers=max((len(wave) for wave in self.waves), default=1))

    def _make(self, call: Call) -> str:
        client = self.clients[call.service]
        if call.presign:
            client.generate_presigned_url(xform_name(call.operation), **call.params)
            return "ok"
        try:
            getattr(client, xform_name(call.operation))(**call.params)
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        return "ok"

    def __call__(self) -> list[str]:
        """The outcome of each call, in the order the handler made them."""
        outcomes: dict[int, str] = {}
        for wave in self.waves:
            if len(wave) == 1:
                outcomes[id(wave[0])] = self._make(wave[0])
            else:
                futures = {id(call): self._pool.submit(self._make, call) for call in wave}
                wait(futures.values())
                outcomes.update((key, future.result()) for key, future in futures.items())
        return [outcomes[id(call)] for call in self.calls]


def requests_text(calls: list[Call]) -> str:
    counts = Counter(call.describe() for call in calls)
    return " + ".join(f"{count} {name}" for name, count in counts.items()) or "no AWS request"


# -- measuring ------------------------------------------------------------------------------------


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(measured / baseline for measured, baseline in pairs)


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float

    @property
    def waiting(self) -> float:
        """Time spent on nothing but waiting (for moto's answers, when nothing else runs here)."""
        return self.wall - self.cpu


def timed(call: Callable[[], Any]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


class Bench:
    def __init__(
        self,
        stack: Stack,
        functions: FunctionsHost,
        env: dict[str, str],
        recorder: Recorder,
        samples: int,
        cold_env: dict[str, str],
    ) -> None:
        self.stack, self.functions, self.recorder = stack, functions, recorder
        #: The cold runs' environment: env, as on Lambda (lambda_site, LAMBDA_VARIABLES).
        self.cold_env = cold_env
        floor_request = Replay([Call("dynamodb", "GetItem", {"TableName": env["TABLE_NAME"], "Key": FLOOR_KEY}, 0.0)])
        #: How long the floor's GetItem waits for moto's answer.
        self.floor_wait = statistics.median(timed(floor_request).waiting for _ in range(samples))

    def event(self, route: Route) -> dict[str, Any]:
        return json.loads((ROOT / "events" / route.function / route.event).read_text())

    def invoke(self, route: Route, event: dict[str, Any]) -> dict[str, Any]:
        # The handlers print their logs and metrics (EMF) to stdout, as in Lambda; keep them out of
        # the report. (Their logger keeps the stream it was created with: it stays open.)
        with contextlib.redirect_stdout(HANDLER_OUTPUT):
            return self.functions.invoke(route.function, event)

    def row(self, route: Route, warm_samples: int, cold_samples: int) -> Row:
        event = self.event(route)
        fresh = self.stack.restore if route.writes else lambda: None
        fresh()
        status = self.invoke(route, event)["statusCode"]
        if status >= 400:
            raise RuntimeError(f"{route.name}: {route.event} answered {status}")
        fresh()
        with self.recorder.recording() as calls:
            self.invoke(route, event)
        replay = Replay(calls)
        fresh()
        outcomes = replay()
        if outcomes != [call.outcome for call in calls]:
            raise RuntimeError(
                f"{route.name}: the bare replay's outcomes differ from the handler's: "
                f"{[(call.describe(), call.outcome, outcome) for call, outcome in zip(calls, outcomes, strict=False)]}"
            )

        warm: list[tuple[Timing, Timing]] = []
        for _ in range(warm_samples):
            fresh()
            handler = timed(lambda: self.invoke(route, event))
            fresh()
            warm.append((handler, timed(replay)))
        requests_wait = statistics.median(bare.waiting for _, bare in warm)
        cold = [
            (function + requests_wait, floor + self.floor_wait)
            for function, floor in self.cold_pairs(route, status, cold_samples, fresh)
        ]
        return Row(
            route.name,
            requests_text(calls),
            {
                "cold (× floor)": Figure(median_ratio(cold), route.cold_goal),
                "warm (× bare requests)": Figure(
                    median_ratio([(handler.wall, bare.wall) for handler, bare in warm]), WARM_GOAL
                )
                if calls
                else None,
            },
        )

    def cold_pairs(
        self, route: Route, status: int, samples: int, fresh: Callable[[], None]
    ) -> list[tuple[float, float]]:
        """(function, floor) CPU times of fresh interpreters, in pairs run back to back."""
        function = self.functions.functions[route.function]
        handler_file = function.code_dir / f"{function.module}.py"
        event_file = ROOT / "events" / route.function / route.event

        def run(code: str, *argv: str) -> float:
            # -S: no site-packages, only the Lambda site on PYTHONPATH (self.cold_env)
            result = subprocess.run(
                [sys.executable, "-S", "-c", code, *argv], env=self.cold_env, capture_output=True, text=True, cwd=ROOT
            )
            if result.returncode:
                raise RuntimeError(f"{route.name}: a cold run failed:\n{result.stderr[-3000:]}")
            return float(result.stdout.split()[-1])

        cold_function = lambda: run(COLD_FUNCTION, str(handler_file), str(event_file), str(status))  # noqa: E731
        # The first runs compile what they import into the bytecode cache (PYTHONPYCACHEPREFIX).
        fresh()
        run(FLOOR)
        cold_function()
        pairs = []
        for _ in range(samples):
            fresh()
            measured = cold_function()
            pairs.append((measured, run(FLOOR)))
        return pairs


# -- the table --------------------------------------------------------------------------------------


@contextlib.contextmanager
def prepared(requests: int = 300) -> Iterator[tuple[Bench, Path]]:
    """A Bench on a fresh moto with the demo data seeded, and the scratch directory of its cold runs
    (the Lambda site in `site/`), removed on exit."""
    template = SamTemplate(ROOT / "template.yaml", LOCAL_PARAMETERS)
    functions = FunctionsHost(template.functions())
    moto = MotoServer()
    scratch = tempfile.TemporaryDirectory(prefix="bench-")
    site, bytecode = Path(scratch.name, "site"), Path(scratch.name, "bytecode")
    site.mkdir()
    lambda_site(site)
    env = (
        dict(os.environ)
        | functions.environment()
        | {
            "AWS_ENDPOINT_URL": moto.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    cold_env = (
        {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
        | LAMBDA_VARIABLES
        | {"PYTHONPATH": str(site), "PYTHONPYCACHEPREFIX": str(bytecode), "LAMBDA_TASK_ROOT": str(ROOT / "functions")}
    )
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        recorder = Recorder()
        stack = Stack(template, moto)
        stack.seed()
        yield Bench(stack, functions, env, recorder, requests, cold_env), Path(scratch.name)
    finally:
        moto.stop()
        scratch.cleanup()
        os.environ.clear()
        os.environ.update(saved)


def rows(requests: int = 300, write_requests: int = 60, cold: int = 9, only: str = "") -> list[Row]:
    """One row per route (whose name contains `only`): its requests, cold ratio and warm ratio,
    each against its goal."""
    with prepared(requests) as (bench, _):
        return [
            bench.row(route, write_requests if route.writes else requests, cold)
            for route in ROUTES
            if only in route.name
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="warm pairs per read route")
    parser.add_argument(
        "--write-requests",
        type=int,
        default=60,
        help="warm pairs per route that writes (each side starts from the seeded state)",
    )
    parser.add_argument("--cold", type=int, default=9, help="cold pairs per route")
    parser.add_argument("--only", default="", help="only the routes whose name contains this")
    args = parser.parse_args()
    print_table(rows(args.requests, args.write_requests, args.cold, args.only))


if __name__ == "__main__":
    main()

"""Benchmark of a whole import through the local stack (the real template, ASL and handlers on moto).

One run of `users` generated users (Rocket.Chat's CSV layout, every 20th without an email, plus one
channel and one message), in a local stack set up as `bulk-import serve` sets it up, measures:

- **wall time**, as a ratio to the time the same process then takes to write the same users into
  moto directly: one conditional PutItem of each entry the import created (the same items, the
  same client, the same boundary), by DIRECT_THREADS threads. Goal ≤ 2×.
- **peak RSS** of the whole process (moto, every handler, the interpreter) after the import.
  Goal ≤ 300 MB at 100,000 users.
- **everything the import sends to AWS**, from the SDK boundary's record of every call
  (`stack.boundary.calls`, with the function that made it; the Step Functions interpreter's own
  calls have none), and each handler's invocations with their measured durations: DynamoDB request
  units by item size, S3 requests by price class, Lambda requests and GB-seconds (each function's
  MemorySize and architecture from template.yaml), Step Functions state transitions of the parent
  (its execution history) and of the Distributed Map children (a child per group of
  BATCHES_PER_CHILD batches: its ImportGroup Map and one task per batch; each child started is also
  a transition of the Standard parent), EventBridge events. Priced at us-east-1
  list prices (PRICES), per million users, for EXPRESS children (the template's default) and for
  STANDARD ones, next to the floor: one conditional PutItem of 1 WRU per user ($0.625 per million).
  Goal ≤ 1.25× the floor.

Lambda bills a batch by its duration, which only AWS can show: here moto answers every request in the
same process, so a batch's local duration counts moto's CPU as well as the function's. Two prices:

- **on AWS (estimate)**, the goal's figure: the batch function's own CPU time, measured here (the
  threads of its invocations and of the package's thread pools, bulk_import.concurrency's
  THREAD_NAME_PREFIX; not moto's), divided by the vCPU share Lambda gives its memory (one vCPU at
  1,769 MB), plus every request it made waiting AWS_WAIT, one after another but for those it
  sends several at a time (CONCURRENT_REQUESTS). Conservative: the pools' CPU time of the other
  functions counts too, no wait overlaps CPU work, and the CPU time here includes opening a
  connection per request (moto's server closes each), where Lambda keeps its connections open.
- **local durations**: each invocation as long as it took here, beside it: moto's CPU time counted,
  AWS's waits not (moto answers in milliseconds). Neither bound: at 1,000 users it is below the
  estimate, at 100,000 above.

What the figures leave out: Lambda's and Step Functions' logs (CloudWatch Logs ingestion), X-Ray
traces, storage (S3 staging kept 120 days, the table), and data transfer. The other functions are
priced at their local durations. The events function runs once per operation change here; on AWS
the stream batches up to 100 changes per invocation.

Run: .venv/bin/python bench/import_run.py [--users 10000]   (details, then the table rows)
     rows(users) gives the rows for bench/run.py's table (table.Row).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from table import Figure, Row  # noqa: E402

# us-east-1 list prices (USD), from the AWS pricing pages (2026-11).
PRICES = {
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": {"arm64": 0.0000133334, "x86_64": 0.0000166667},
    "stepfunctions_transition": 0.025 / 1000,  # Standard
    "stepfunctions_express_request": 1.00 / 1e6,
    "stepfunctions_express_gb_second": 0.00001667,  # first 1,000 h; 64 MB steps, 100 ms steps
    "s3_put_class": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get_class": 0.0004 / 1000,  # GET, HEAD and everything else (DELETE is free)
    "eventbridge_event": 1.00 / 1e6,  # custom events put
}
FLOOR_PER_MILLION = 1e6 * PRICES["dynamodb_wru"]  # one conditional PutItem of 1 WRU per user
GOALS = {"cost": 1.25, "rss_mb": 300.0, "wall": 2.0}
#: The children the template runs (its BatchExecutionType default): the cost goal is theirs; the
#: other kind is priced beside them.
DEFAULT_CHILDREN = "EXPRESS"
S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListParts",
    "ListMultipartUploads",
    "PostObject",
}
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}
#: What a request waits on AWS, in the estimate of a batch's duration there: DynamoDB answers in
#: "single-digit milliseconds" (its documentation), S3 a GET under 512 KB in "tens of milliseconds"
#: (median, the S3 performance whitepaper); the upper ends of both.
AWS_WAIT = {"dynamodb": 0.010, "s3": 0.050}
#: Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
VCPU_MB = 1769
#: Requests a batch makes several at a time: the INSERTs of its 50 records, 25 to a request.
CONCURRENT_REQUESTS = {("dynamodb", "BatchExecuteStatement"): 2}
#: What the bench's own calls (polling the operation) are recorded as: not counted.
BENCH = "(bench)"
#: Threads of the direct writes: the most a Lambda function's process would keep busy with puts.
DIRECT_THREADS = 10
_TEXT_LENGTH = re.compile(r"\.\.\. \((\d+) characters\)$")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Progress:
    """An import's step, records processed and RSS, every 10 s, on the terminal (stderr as the
    process started with it: the stack's own output is elsewhere)."""

    def __init__(self, started: float, enabled: bool) -> None:
        self.started, self.last, self.enabled = started, started, enabled

    def show(self, operation: Any) -> None:
        if self.enabled and time.perf_counter() - self.last >= 10:
            self.last = time.perf_counter()
            print(
                f"  {self.last - self.started:6.0f} s  {operation.step.value:28} {operation.count.processed:>9,} of "
                f"{operation.count.total:,}  RSS {rss_mb():.0f} MB",
                file=sys.__stderr__,
                flush=True,
            )


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


class Meter:
    """Counts every AWS call of the import (a CallLog subscriber) and times every handler call."""

    def __init__(self, stack: Any) -> None:
        from moto.dynamodb.models import dynamodb_backends

        from bulk_import_local.sam_template import ACCOUNT, REGION

        self.stack = stack
        self.tables = dynamodb_backends[ACCOUNT][REGION].tables
        self.calls: Counter = Counter()  # (function, service, operation) -> calls
        self.wru = 0.0
        self.rru = 0.0
        self.events = 0
        self.batch_tasks = 0  # Invoke calls of the batch function: one per batch
        self.invocations: dict[str, list[float]] = defaultdict(list)  # logical id -> seconds of each call
        self.batch_cpu = 0.0  # CPU seconds of the batch function's invocations, in their own threads
        self.lock = threading.Lock()
        self._unsubscribe = stack.boundary.calls.subscribe(self.observe)
        self._pools_before = _pool_cpu()
        host, invoke = stack.host, stack.host.invoke

        def timed_invoke(logical_id: str, event: Any, context: Any = None) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return invoke(logical_id, event, context)
            finally:
                with self.lock:
                    self.invocations[logical_id].append(time.perf_counter() - started)
                    if logical_id == "ImportBatchFunction":
                        self.batch_cpu += time.thread_time() - cpu

        host.invoke = timed_invoke
        self._undo_timing = lambda: host.__dict__.pop("invoke", None)

    def close(self) -> None:
        self._unsubscribe()
        self._undo_timing()

    def pools_cpu(self) -> float:
        """CPU seconds the package's thread pools spent since the meter started (their threads live
        as long as the process)."""
        before = self._pools_before
        return sum(seconds - before.get(ident, 0.0) for ident, seconds in _pool_cpu().items())

    def observe(self, call: Any) -> None:
        """One recorded call (after it was answered): counted, and its request units estimated."""
        if call.function == BENCH or (call.error is not None and call.error != "ConditionalCheckFailedException"):
            return  # the bench's own, or refused before it was served (a failed condition still costs units)
        units = self._dynamodb_units(call) if call.service == "dynamodb" else (0.0, 0.0)
        with self.lock:
            self.calls[(call.function, call.service, call.operation)] += 1
            self.wru += units[0]
            self.rru += units[1]
            if (call.service, call.operation) == ("events", "PutEvents"):
                self.events += len(call.params.get("Entries", []))
            if (call.service, call.operation) == ("lambda", "Invoke") and _unqualified(
                str(call.params.get("FunctionName", ""))
            ).endswith("ImportBatchFunction"):
                self.batch_tasks += 1

    # -- DynamoDB request units, as AWS bills them -------------------------------------------------

    def _dynamodb_units(self, call: Any) -> tuple[float, float]:
        params, operation = call.params, call.operation
        if operation == "PutItem":
            return _write_units(_size(params["Item"])), 0.0
        if operation in ("UpdateItem", "DeleteItem"):
            return _write_units(self._stored_size(params["TableName"], params["Key"])), 0.0
        if operation == "BatchExecuteStatement":  # an INSERT refused as a duplicate costs its units too
            from bulk_import_local.partiql import inserted_items

            return sum(_write_units(_size(item)) for _, item in inserted_items(params)), 0.0
        if operation == "BatchWriteItem":
            return sum(
                _write_units(_size(request["PutRequest"]["Item"])) if "PutRequest" in request else 1.0
                for requests in params["RequestItems"].values()
                for request in requests
            ), 0.0
        if operation == "TransactWriteItems":
            wru = 0.0
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                size = _size(body["Item"]) if kind == "Put" else self._stored_size(body["TableName"], body["Key"])
                wru += 2 * _write_units(size)  # a transaction costs two units per 1 KB per item
            return wru, 0.0
        if operation == "GetItem":
            return 0.0, _read_units(self._stored_size(params["TableName"], params["Key"]), params)
        if operation == "BatchGetItem":
            return 0.0, sum(
                _read_units(self._stored_size(table, key), request)
                for table, request in params["RequestItems"].items()
                for key in request["Keys"]
            )
        if operation == "TransactGetItems":
            return 0.0, sum(
                2
                * _read_units(self._stored_size(item["Get"]["TableName"], item["Get"]["Key"]), {"ConsistentRead": True})
                for item in params["TransactItems"]
            )
        if operation == "Query":
            return 0.0, self._query_units(params)
        return 0.0, 0.0

    def _stored_size(self, table_name: str, key: dict[str, Any]) -> int:
        """The size of the item as moto holds it now (after an update: the new item; gone: 1 byte)."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.tables.get(table_name)
        if table is None:
            return 1
        try:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_key, range_key)
        except Exception:
            return 1
        return item.size() if item is not None else 1

    def _query_units(self, params: dict[str, Any]) -> float:
        """Units of the items a table Query can have read: its partition (an index Query: 1)."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.tables.get(params["TableName"])
        values = params.get("ExpressionAttributeValues", {})
        if table is None or "IndexName" in params or len(values) < 1:
            return _read_units(1, params)
        partition_key = next(
            (
                DynamoType(value)
                for name, value in values.items()
                if f"= {name}" in params.get("KeyConditionExpression", "")
            ),
            None,
        )
        partition = table.items.get(partition_key) if partition_key is not None else None
        items = list(partition.values()) if isinstance(partition, dict) else [partition] if partition else []
        limit = params.get("Limit")
        size = sum(item.size() for item in items[:limit] if item is not None)
        return _read_units(max(size, 1), params)


def _pool_cpu() -> dict[int, float]:
    """CPU seconds of each live thread of the package's pools, by thread id."""
    from bulk_import.concurrency import THREAD_NAME_PREFIX

    cpu = {}
    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_NAME_PREFIX) and thread.ident is not None:
            with contextlib.suppress(OSError):  # it ended meanwhile
                cpu[thread.ident] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return cpu


def _unqualified(function: str) -> str:
    """A function's name or ARN without its alias or version (the state machine calls `:live`)."""
    name = function.rpartition(":function:")[2] if ":function:" in function else function
    return name.partition(":")[0]


def _size(attributes: dict[str, Any]) -> int:
    """DynamoDB's size of an item from a recorded (shortened) request: texts cut by the record count
    at the length it notes."""
    from bulk_import_local.sdk_boundary import item_size

    return item_size(_unshortened(attributes))


def _unshortened(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _unshortened(nested) for name, nested in value.items()}
    if isinstance(value, list):
        return [_unshortened(nested) for nested in value if not (isinstance(nested, str) and nested.startswith("... "))]
    if isinstance(value, str) and (found := _TEXT_LENGTH.search(value)):
        return "x" * int(found.group(1))
    return value


def _write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def _read_units(size: int, params: dict[str, Any]) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units if params.get("ConsistentRead") else units / 2)


@dataclass
class Result:
    users: int
    seconds: float
    peak_rss_mb: float
    operation: Any
    calls: Counter
    wru: float
    rru: float
    events: int
    invocations: dict[str, list[float]]
    parent_transitions: int
    batch_tasks: int
    children: int  # Distributed Map children: a group of batches each
    batch_cpu: float = 0.0  # CPU seconds of the batch function, all its invocations (Meter)
    direct_seconds: float = 0.0
    direct_writes: int = 0
    functions: dict[str, tuple[int, str]] = field(default_factory=dict)  # logical id -> (MB, arch)


def run(users: int, *, progress: bool = True) -> Result:
    """One import of `users` users in a fresh local stack, then the direct writes in the same process."""
    from bulk_import.dal.s3 import default_files, snapshot_key
    from bulk_import.dal.stepfunctions import default_executions
    from bulk_import.logic.imports.snapshots import start_snapshot_import
    from bulk_import_cli.demo import demo_users_zip
    from bulk_import_local.local_stack import SERVE_KEEP_CALLS, LocalStack
    from bulk_import_local.sdk_boundary import current_function

    # What the functions print (a JSON line per batch) goes where `serve` sends it: not to the table.
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        contextlib.redirect_stderr(devnull),
        LocalStack(api_port=0, keep_calls=SERVE_KEEP_CALLS) as stack,
    ):  # as `bulk-import serve` runs
        store, files = stack.store, default_files()
        cell, name = f"bench{users}", f"users{users}"
        files.put(snapshot_key(cell, name), demo_users_zip(users))
        meter = Meter(stack)
        started = time.perf_counter()
        token = current_function.set("PersoniumImportFunction")  # what starts it on AWS (POST /{cell}/__import)
        latest = store.read_cell_status(cell, None).latest  # as it reads it: with the caller's token
        start_snapshot_import(store, files, default_executions(), cell, name, "bench", latest=latest)
        current_function.reset(token)
        token = current_function.set(BENCH)
        shown = Progress(started, progress)
        while (operation := store.latest_operation(cell)).is_active:
            time.sleep(0.5)
            shown.show(operation)
        seconds = time.perf_counter() - started
        current_function.reset(token)
        peak = peak_rss_mb()
        meter.close()
        result = Result(
            users=users,
            seconds=seconds,
            peak_rss_mb=peak,
            operation=operation,
            calls=Counter(meter.calls),
            wru=meter.wru,
            rru=meter.rru,
            events=meter.events,
            invocations=dict(meter.invocations),
            parent_transitions=_parent_transitions(stack),
            batch_tasks=meter.batch_tasks,
            children=_children(operation),
            batch_cpu=meter.batch_cpu + meter.pools_cpu(),
            functions=_functions(stack),
        )
        result.direct_writes, result.direct_seconds = direct_writes(store, users)
        return result


def _children(operation: Any) -> int:
    """The Distributed Map children the import ran: a group of BATCHES_PER_CHILD batches each."""
    from bulk_import.domain.operation import BATCH_SIZE
    from bulk_import.logic.worker.steps import BATCHES_PER_CHILD

    counts = (operation.count.users, operation.count.channels, operation.count.messages)
    return sum(math.ceil(math.ceil(n / BATCH_SIZE) / BATCHES_PER_CHILD) for n in counts)


def direct_writes(store: Any, users: int) -> tuple[int, float]:
    """Writes each user entry the import created, into another cell, one conditional PutItem each
    (the write the import's floor counts: an entry that exists fails): (writes, seconds)."""
    from bulk_import.dal.dynamodb.directory_items import DirectoryEntry
    from bulk_import.dal.dynamodb.table import marshal
    from bulk_import.domain.records.schema import parse_record

    entries = [
        (
            f"user{n}",
            parse_record(
                "user", {"username": f"user{n}", "emails": [f"user{n}@example.com"], "name": f"User {n}"}
            ).model_dump(mode="json"),
        )
        for n in range(users)
        if n % 20 != 7
    ]  # demo_users_zip: every 20th (n % 20 == 7) fails

    def put(entry: tuple[str, dict[str, Any]]) -> None:
        item = DirectoryEntry("user", entry[0], entry[1], f"direct:{entry[0]}").item("direct")
        store.client.put_item(
            TableName=store.table_name, Item=marshal(item), ConditionExpression="attribute_not_exists(PK)"
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(DIRECT_THREADS) as pool:
        list(pool.map(put, entries))
    return len(entries), time.perf_counter() - started


def _parent_transitions(stack: Any) -> int:
    """State transitions of the parent execution: the states it entered (its history)."""
    import boto3

    client = boto3.client("stepfunctions")
    (machine,) = client.list_state_machines()["stateMachines"]
    execution = client.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"][0]
    history = client.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    return sum(event["type"].endswith("StateEntered") for event in history)


def _functions(stack: Any) -> dict[str, tuple[int, str]]:
    """Each function's MemorySize (MB) and architecture, from template.yaml."""
    template = stack.template
    defaults = template.raw.get("Globals", {}).get("Function", {})
    functions = {}
    for logical_id, function in template.resources("AWS::Serverless::Function").items():
        properties = function["Properties"]
        memory = int(template.resolve(properties.get("MemorySize", defaults.get("MemorySize", 128))))
        architecture = (properties.get("Architectures") or defaults.get("Architectures") or ["x86_64"])[0]
        functions[logical_id] = (memory, architecture)
    return functions


# -- cost ----------------------------------------------------------------------------------------


def costs(result: Result, children: str) -> dict[str, float]:
    """$ per million users by service, with EXPRESS or STANDARD Distributed Map children."""
    scale = 1e6 / result.users
    by_service: Counter = Counter()
    for (_, service, _), number in result.calls.items():
        by_service[service] += number
    s3_put = sum(n for (_, service, op), n in result.calls.items() if service == "s3" and op in S3_PUT_CLASS)
    s3_get = sum(
        n
        for (_, service, op), n in result.calls.items()
        if service == "s3" and op not in S3_PUT_CLASS and op not in S3_FREE
    )
    lambda_cost = 0.0
    for logical_id, durations in result.invocations.items():
        memory, architecture = result.functions.get(logical_id, (128, "x86_64"))
        gb_seconds = sum(math.ceil(seconds * 1000) / 1000 for seconds in durations) * memory / 1024
        lambda_cost += len(durations) * PRICES["lambda_request"] + gb_seconds * PRICES["lambda_gb_second"][architecture]
    batch_seconds = result.invocations.get("ImportBatchFunction", [])
    child_seconds = sum(batch_seconds) / result.children if result.children else 0.0  # its batches, in turn
    parent = result.parent_transitions * PRICES["stepfunctions_transition"]
    started = result.children * PRICES["stepfunctions_transition"]  # each child started: a parent transition
    if children == "STANDARD":  # its ImportGroup Map, and a task per batch
        child_cost = (result.children + result.batch_tasks) * PRICES["stepfunctions_transition"]
    else:
        billed = math.ceil(child_seconds * 10) / 10  # 100 ms steps, 64 MB
        child_cost = result.children * (
            PRICES["stepfunctions_express_request"] + billed * 64 / 1024 * PRICES["stepfunctions_express_gb_second"]
        )
    return {
        "DynamoDB": scale * (result.wru * PRICES["dynamodb_wru"] + result.rru * PRICES["dynamodb_rru"]),
        "Lambda": scale * lambda_cost,
        "Step Functions": scale * (parent + started + child_cost),
        "S3": scale * (s3_put * PRICES["s3_put_class"] + s3_get * PRICES["s3_get_class"]),
        "EventBridge": scale * result.events * PRICES["eventbridge_event"],
    }


def goal_batch_ms(result: Result, children: str) -> float:
    """How long a batch may take for the import to cost GOALS["cost"] × the floor (the Lambda and
    Express figures scale with it); 0 if no duration reaches it."""
    batch = result.invocations.get("ImportBatchFunction", [])
    if not batch:
        return 0.0
    mean = sum(batch) / len(batch)

    def total(seconds: float) -> float:
        return sum(costs(with_batches_of(result, seconds), children).values())

    goal = GOALS["cost"] * FLOOR_PER_MILLION
    low, high = 0.0, mean * 4
    if total(low) > goal:
        return 0.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if total(middle) <= goal else (low, middle)
    return low * 1000


def aws_batch_seconds(result: Result) -> float:
    """A batch's estimated duration on AWS (the module's docstring): its CPU time measured here at
    the vCPU share of its memory, plus what its requests wait there."""
    tasks = max(1, len(result.invocations.get("ImportBatchFunction", [])))
    memory, _ = result.functions.get("ImportBatchFunction", (128, "x86_64"))
    waits = sum(
        number / CONCURRENT_REQUESTS.get((service, operation), 1) * AWS_WAIT.get(service, AWS_WAIT["dynamodb"])
        for (function, service, operation), number in result.calls.items()
        if function == "ImportBatchFunction"
    )
    return (result.batch_cpu * VCPU_MB / min(memory, VCPU_MB) + waits) / tasks


def on_aws(result: Result) -> Result:
    """The run with each batch as long as aws_batch_seconds estimates."""
    return with_batches_of(result, aws_batch_seconds(result))


def with_batches_of(result: Result, seconds: float) -> Result:
    """The run with each of its batches `seconds` long."""
    batches = len(result.invocations.get("ImportBatchFunction", []))
    return replace(result, invocations={**result.invocations, "ImportBatchFunction": [seconds] * batches})


def report(result: Result, out: Any = sys.stdout) -> None:
    operation, batches = result.operation, math.ceil(result.users / 50)
    count = operation.count
    print(
        f"\n{result.users:,} users: {operation.step.value}, completed {count.completed:,} + error {count.error:,}"
        f" = {count.processed:,} of {count.total:,}",
        file=out,
    )
    print(
        f"  wall {result.seconds:.1f} s ({result.users / result.seconds:.0f} users/s locally); direct writes of "
        f"the {result.direct_writes:,} entries: {result.direct_seconds:.1f} s -> "
        f"{result.seconds / result.direct_seconds:.2f}x",
        file=out,
    )
    print(f"  peak RSS {result.peak_rss_mb:.0f} MB (the whole process, after the import)", file=out)
    print(f"  AWS requests per 50-user batch ({batches:,} batches; totals in brackets), by function:", file=out)
    for (function, service, operation_name), number in sorted(
        result.calls.items(), key=lambda c: (str(c[0][0]), c[0][1:])
    ):
        print(
            f"    {function or '(Step Functions)':24} {service:13} {operation_name:20} {number / batches:8.2f}"
            f"   [{number:,}]",
            file=out,
        )
    print(
        f"  DynamoDB request units per user: {result.wru / result.users:.3f} WRU, {result.rru / result.users:.3f} RRU",
        file=out,
    )
    print("  Lambda invocations (measured locally):", file=out)
    for logical_id, durations in sorted(result.invocations.items()):
        memory, architecture = result.functions.get(logical_id, (128, "x86_64"))
        print(
            f"    {logical_id:24} {len(durations):7,} x {sum(durations) / len(durations) * 1000:7.0f} ms"
            f"  ({memory} MB {architecture})",
            file=out,
        )
    print(
        f"  Step Functions: parent {result.parent_transitions} transitions; {result.children:,} children "
        f"({result.batch_tasks:,} batch tasks)",
        file=out,
    )
    tasks = max(1, len(result.invocations.get("ImportBatchFunction", [])))
    print(
        f"  batch function: {result.batch_cpu / tasks * 1000:.0f} ms of CPU per batch (its threads and the "
        f"package's pools); on AWS about {aws_batch_seconds(result) * 1000:.0f} ms a batch (estimate)",
        file=out,
    )
    for title, priced in (
        ("a batch as long as estimated on AWS", on_aws(result)),
        ("every invocation as long as it took here (moto's CPU counted, AWS's waits not)", result),
    ):
        print(f"\n  $ per million users, {title} (us-east-1 list prices, bench/import_run.py PRICES):", file=out)
        express, standard = costs(priced, "EXPRESS"), costs(priced, "STANDARD")
        print(f"    {'':16} {'EXPRESS children':>18} {'STANDARD children':>18}", file=out)
        for service in express:
            print(f"    {service:16} {express[service]:18.4f} {standard[service]:18.4f}", file=out)
        total_e, total_s = sum(express.values()), sum(standard.values())
        print(f"    {'total':16} {total_e:18.4f} {total_s:18.4f}", file=out)
        print(
            f"    {'x floor':16} {total_e / FLOOR_PER_MILLION:18.2f} {total_s / FLOOR_PER_MILLION:18.2f}"
            f"   (floor: one 1-WRU conditional PutItem per user, ${FLOOR_PER_MILLION:.3f})",
            file=out,
        )


def result_rows(result: Result) -> list[Row]:
    """The table rows of one run (table.py): cost per million users (EXPRESS and STANDARD children)
    against the floor, on AWS as estimated and at the local durations, peak RSS, wall time against
    the direct writes."""
    users = f"{result.users:,} users"
    tasks = max(1, len(result.invocations.get("ImportBatchFunction", [])))
    local_ms = sum(result.invocations.get("ImportBatchFunction", [0])) * 1000 / tasks
    aws_ms, cpu_ms = aws_batch_seconds(result) * 1000, result.batch_cpu * 1000 / tasks
    estimated = on_aws(result)
    rows = []
    for children in ("EXPRESS", "STANDARD"):
        cost, upper = costs(estimated, children), sum(costs(result, children).values())
        total = sum(cost.values())
        breakdown = ", ".join(f"{service} {value:.3f}" for service, value in cost.items() if value >= 0.0005)
        rows.append(
            Row(
                f"import cost, {children} batches",
                f"${total:.3f} per M users ({breakdown}) with a "
                f"batch of {aws_ms:.0f} ms on AWS (estimate: {cpu_ms:.0f} ms of CPU measured here, and "
                f"the requests' waits); the goal holds up to {goal_batch_ms(result, children):.0f} ms; "
                f"at the local {local_ms:.0f} ms (moto's CPU counted, AWS's waits not) ${upper:.3f} = "
                f"{upper / FLOOR_PER_MILLION:.2f}× floor. Floor ${FLOOR_PER_MILLION:.3f}: one 1-WRU write "
                f"per user{'' if children == DEFAULT_CHILDREN else '; not the template default, shown only'}",
                {
                    "import": Figure(
                        total / FLOOR_PER_MILLION, GOALS["cost"] if children == DEFAULT_CHILDREN else None, "× floor"
                    )
                },
            )
        )
    rows.append(
        Row(
            f"import peak RSS, {users}",
            "the whole local stack process (moto + every handler)",
            {
                "import": Figure(
                    result.peak_rss_mb, GOALS["rss_mb"] if result.users >= 100_000 else None, " MB", places=0
                )
            },
        )
    )
    rows.append(
        Row(
            f"import wall, {users}",
            f"{result.seconds:.0f} s against {result.direct_seconds:.0f} s for "
            f"{result.direct_writes:,} direct conditional PutItems ({DIRECT_THREADS} threads)",
            {"import": Figure(result.seconds / result.direct_seconds, GOALS["wall"], "× direct")},
        )
    )
    return rows


def rows(users: int = 100_000) -> list[Row]:
    """bench/run.py's rows: one import of `users` (the RSS goal is set at 100,000)."""
    return result_rows(run(users))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--json", metavar="FILE", help="also write the counts to FILE")
    args = parser.parse_args()
    from table import print_table

    result = run(args.users)
    report(result)
    print()
    print_table(result_rows(result))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "users": result.users,
                    "seconds": result.seconds,
                    "direct_seconds": result.direct_seconds,
                    "peak_rss_mb": result.peak_rss_mb,
                    "wru": result.wru,
                    "rru": result.rru,
                    "calls": [[*key, n] for key, n in result.calls.items()],
                    "invocations": {k: [len(v), sum(v)] for k, v in result.invocations.items()},
                    "parent_transitions": result.parent_transitions,
                    "children": result.children,
                    "batch_tasks": result.batch_tasks,
                    "batch_cpu": result.batch_cpu,
                    "aws_batch_seconds": aws_batch_seconds(result),
                    "express": costs(on_aws(result), "EXPRESS"),
                    "standard": costs(on_aws(result), "STANDARD"),
                    "express_local": costs(result, "EXPRESS"),
                    "standard_local": costs(result, "STANDARD"),
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()

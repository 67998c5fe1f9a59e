"""Benchmark of the import worker through the local stack (not a test): prints figures only.

For each size (default 10,000 and 100,000 users, 5% invalid): wall time, peak memory (RSS of this
process, which hosts moto and every handler), and the AWS requests made, by service and operation,
per 50-user batch. Then the cost per million users at AWS list prices (PRICES below), compared to
the floor: writing each user once.

Run: .venv/bin/python bench/import_run.py [--users 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import boto3  # noqa: E402

# us-east-1 list prices (USD), as published on the AWS pricing pages in 2026-11.
PRICES = {
    "dynamodb_write_request_unit": 0.625 / 1e6,  # on-demand, per WRU
    "dynamodb_read_request_unit": 0.125 / 1e6,  # on-demand, per RRU
    "lambda_request": 0.20 / 1e6,
    "lambda_arm64_gb_second": 0.0000133334,
    "stepfunctions_standard_transition": 0.025 / 1000,
    "stepfunctions_express_request": 1.00 / 1e6,
    "stepfunctions_express_gb_second": 0.00001667,  # billed in 64 MB steps
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
}
BATCH_SECONDS_ON_AWS = 0.25  # docs/capacity.md: ~55 DynamoDB requests at ~10 ms, 10 at a time
LAMBDA_MEMORY_GB = 0.5


class RequestCounter:
    """Counts what the handlers ask of AWS (their clients come from boto3's default session), with
    the DynamoDB items each request writes or reads, for request-unit estimates."""

    def __init__(self) -> None:
        self.requests: Counter = Counter()
        self.write_units = 0
        self.read_units = 0
        self.lock = threading.Lock()
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", self._before)
        boto3.DEFAULT_SESSION.events.register("after-call.dynamodb", self._after)

    def _before(self, model, params, **_) -> None:
        with self.lock:
            self.requests[(model.service_model.service_name, model.name)] += 1
            if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
                self.write_units += 1
            elif model.name == "BatchWriteItem":
                self.write_units += sum(len(items) for items in params["RequestItems"].values())
            elif model.name == "TransactWriteItems":
                self.write_units += 2 * len(params["TransactItems"])  # transactions cost double

    def _after(self, model, parsed, **_) -> None:
        with self.lock:
            if model.name == "Query":
                self.read_units += max(1, math.ceil(len(json.dumps(parsed.get("Items", []))) / 4096))
            elif model.name in ("GetItem", "BatchGetItem"):
                self.read_units += max(1, len(json.dumps(parsed.get("Responses", parsed.get("Item", {})))) // 4096 + 1)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.write_units = self.read_units = 0


def run(stack, counter: RequestCounter, users: int) -> dict:
    from bulk_import.executions import default_executions
    from bulk_import.files import default_files, snapshot_key
    from bulk_import.imports import start_snapshot_import
    from bulk_import_cli.demo import demo_users_zip

    cell, name = f"bench{users}", f"users{users}"
    default_files().put(snapshot_key(cell, name), demo_users_zip(users))
    counter.reset()
    started = time.perf_counter()
    start_snapshot_import(stack.store, default_files(), default_executions(), cell, name, "bench")
    while (operation := stack.store.latest_operation(cell)).is_active:
        time.sleep(1)
    return {"users": users, "seconds": time.perf_counter() - started, "operation": operation,
            "requests": Counter(counter.requests), "write_units": counter.write_units,
            "read_units": counter.read_units, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(result: dict) -> None:
    operation, batches = result["operation"], math.ceil(result["users"] / 50)
    count = operation.count
    print(f"\n{result['users']:,} users: {operation.step.value}, completed {count.completed:,} + error {count.error:,}"
          f" = {count.processed:,} of {count.total:,}")
    print(f"  wall time {result['seconds']:.1f} s ({result['users'] / result['seconds']:.0f} users/s locally),"
          f" peak RSS {result['peak_rss_mb']:.0f} MB")
    print(f"  requests per 50-user batch ({batches:,} batches; totals in brackets):")
    for (service, operation_name), number in sorted(result["requests"].items()):
        print(f"    {service:14} {operation_name:20} {number / batches:8.2f}   [{number:,}]")
    print(f"  DynamoDB request units per user: {result['write_units'] / result['users']:.2f} WRU,"
          f" {result['read_units'] / result['users']:.2f} RRU")


def cost_per_million(result: dict) -> None:
    scale = 1e6 / result["users"]
    batches = 1e6 / 50
    lambda_invocations = sum(n for (service, name), n in result["requests"].items() if service == "lambda") * scale
    dynamodb = (result["write_units"] * PRICES["dynamodb_write_request_unit"]
                + result["read_units"] * PRICES["dynamodb_read_request_unit"]) * scale
    lambda_cost = batches * (PRICES["lambda_request"] + BATCH_SECONDS_ON_AWS * LAMBDA_MEMORY_GB
                             * PRICES["lambda_arm64_gb_second"])
    express = batches * (PRICES["stepfunctions_express_request"]
                         + BATCH_SECONDS_ON_AWS * 0.0625 * PRICES["stepfunctions_express_gb_second"])
    standard = batches * 3 * PRICES["stepfunctions_standard_transition"]  # child start, task, end
    s3 = sum(n for (service, name), n in result["requests"].items() if service == "s3") * scale * PRICES["s3_get"]
    floor = 1e6 * PRICES["dynamodb_write_request_unit"]
    total = dynamodb + lambda_cost + express + s3
    print("\nCost per million users (us-east-1 list prices, bench/import_run.py PRICES):")
    for label, value in [("DynamoDB on-demand", dynamodb), ("Lambda arm64 (batches)", lambda_cost),
                         ("Step Functions, EXPRESS children", express), ("S3", s3)]:
        print(f"  {label:36} ${value:8.3f}")
    print(f"  {'total':36} ${total:8.3f}   (STANDARD children instead: +${standard - express:.2f})")
    print(f"  floor: one 1-WRU write per user       ${floor:8.3f}   -> {total / floor:.1f}x the floor")
    print(f"  (Lambda invocations seen locally per million users: {lambda_invocations:,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    from bulk_import_cli.local_stack import LocalStack

    counter = RequestCounter()
    with LocalStack(api_port=0) as stack:
        for users in args.users:
            result = run(stack, counter, users)
            report(result)
            cost_per_million(result)
            sys.stdout.flush()


if __name__ == "__main__":
    main()

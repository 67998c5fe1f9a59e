"""Benchmark of a status read (not a test): prints figures, asserts nothing.

- DynamoDB requests per status read, per route (counted through botocore's event hooks).
- Cold import time of each handler module, as a ratio to `import boto3` plus creating one
  DynamoDB client, both measured in fresh interpreters in this run (median of --imports runs).
- Warm per-request time of each handler, as a ratio to one bare GetItem against the same moto
  server (median of --requests calls each).

Ratios, because this machine is shared and noisy: both sides are measured in the same run.
Run: .venv/bin/python bench/status_read.py [--requests 300] [--imports 7]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from bulk_import_cli.functions_host import FunctionsHost  # noqa: E402
from bulk_import_cli.local_stack import LOCAL_PARAMETERS  # noqa: E402
from bulk_import_cli.sam_template import SamTemplate  # noqa: E402

ROUTES = {
    "Personium GET /{cell}/__import": ("PersoniumStatusFunction", "status-in-progress.json"),
    "Rocket.Chat import.status": ("RocketChatStatusFunction", "import-status.json"),
    "Rocket.Chat getCurrentImportOperation": ("RocketChatStatusFunction", "get-current-import-operation.json"),
    "Rocket.Chat getLatestImportOperations": ("RocketChatStatusFunction", "get-latest-import-operations.json"),
    "/v1 GET imports/{id}": ("NativeReadFunction", "get-import.json"),
    "/v1 GET imports (history)": ("NativeReadFunction", "list-imports.json"),
    "/v1 GET imports/{id}/errors": ("NativeReadFunction", "list-errors.json"),
}
BASELINE_IMPORT = "import boto3; boto3.client('dynamodb')"


def cold_import_seconds(statement: str, runs: int, env: dict[str, str]) -> float:
    timer = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    samples = [
        float(subprocess.run([sys.executable, "-c", timer], env=env, capture_output=True, text=True, check=True,
                             cwd=ROOT).stdout)
        for _ in range(runs)
    ]
    return statistics.median(samples)


def handler_import_statement(path: Path) -> str:
    return (f"import importlib.util as u; s = u.spec_from_file_location('app', {str(path)!r}); "
            "m = u.module_from_spec(s); s.loader.exec_module(m)")


def median_seconds(call, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--imports", type=int, default=7)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    template = SamTemplate(ROOT / "template.yaml", LOCAL_PARAMETERS)
    functions = FunctionsHost(template.functions())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = os.environ | functions.environment() | {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    try:
        report(template, functions, env, args)
    finally:
        server.stop()


def report(template: SamTemplate, functions: FunctionsHost, env: dict[str, str], args: argparse.Namespace) -> None:
    from bulk_import.storage import cell_key, default_store
    from bulk_import_cli.demo import seed_demo
    from tests.conftest import load_event

    client = boto3.client("dynamodb")
    for name, arguments in template.tables().items():
        client.create_table(TableName=name, **arguments)
    store = default_store()
    seed_demo(store, env["ROCKETCHAT_CELL"])
    requests: Counter = Counter()
    store.client.meta.events.register("before-call.dynamodb", lambda model, **_: requests.update([model.name]))

    baseline_import = cold_import_seconds(BASELINE_IMPORT, args.imports, env)
    bare_get = median_seconds(lambda: client.get_item(TableName=env["TABLE_NAME"], Key={
        name: {"S": value} for name, value in cell_key("demo").items()}), args.requests)
    print(f"baseline: import boto3 + DynamoDB client {baseline_import * 1000:.1f} ms (median of {args.imports}); "
          f"bare GetItem {bare_get * 1000:.2f} ms (median of {args.requests})")
    print(f"{'route':42} {'DynamoDB requests':24} {'import ratio':>12} {'warm ratio':>10}")

    for route, (function, event_file) in ROUTES.items():
        event = load_event(f"{function}/{event_file}")
        # The handlers print their metrics (EMF) to stdout, as in Lambda; keep them out of the report.
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            response = functions.invoke(function, event)
            assert response["statusCode"] == 200, response
            requests.clear()
            functions.invoke(function, event)
            per_read = dict(requests)
            warm = median_seconds(lambda: functions.invoke(function, event), args.requests)
        source = functions.functions[function].code_dir / "app.py"
        handler_import = cold_import_seconds(handler_import_statement(source), args.imports, env)
        print(f"{route:42} {json.dumps(per_read):24} {handler_import / baseline_import:12.2f} {warm / bare_get:10.2f}")


if __name__ == "__main__":
    main()

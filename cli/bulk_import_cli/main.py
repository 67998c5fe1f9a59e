"""bulk-import: the operator's CLI and the local stack.

Commands other than `serve` print only JSON on stdout; messages go to stderr. From the repo root
while `bulk-import serve` runs they talk to the local stack (found through .local-stack.json);
otherwise to the deployed stack named by --stack-name or BULK_IMPORT_STACK.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3

from bulk_import.admin import create_api_credential, create_cell_token, create_rocketchat_credential
from bulk_import.credentials import ApiPermission, Permission
from bulk_import.executions import WorkerExecutions, default_executions
from bulk_import.files import ImportFiles, default_files, snapshot_key
from bulk_import.imports import OperationBusy, start_file_import, start_snapshot_import, stop
from bulk_import.storage import ImportStore
from bulk_import_cli import demo, imports_command, openapi
from bulk_import_cli.local_stack import (
    LOCAL_PARAMETERS,
    REPO_ROOT,
    SERVE_KEEP_CALLS,
    LocalStack,
    StackInfo,
    state_file,
)
from bulk_import_cli.functions_host import FunctionsHost
from bulk_import_cli.sam_template import REGION, SamTemplate
from bulk_import_cli.usage import UsageError
from bulk_import_cli.watch import watch


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# -- targets -------------------------------------------------------------------------------------


def _use_local_stack() -> bool:
    """Points this process at the running local stack, if there is one."""
    info = StackInfo.load()
    if info is None:
        return False
    os.environ.update({"AWS_ENDPOINT_URL": info.endpoint, "AWS_DEFAULT_REGION": info.region,
                       "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                       "POWERTOOLS_TRACE_DISABLED": "true"})
    os.environ.update(_functions_host(info.parameters).environment())
    return True


def _functions_host(parameters: dict[str, str]) -> FunctionsHost:
    return FunctionsHost(SamTemplate(REPO_ROOT / "template.yaml", parameters).functions())


def _stack_outputs(stack_name: str | None) -> dict[str, str]:
    if not stack_name:
        raise UsageError("no local stack is running here (start `bulk-import serve` in the repo root), "
                         "and no deployed stack was named: pass --stack-name or set BULK_IMPORT_STACK")
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _store(args: argparse.Namespace) -> ImportStore:
    if _use_local_stack():
        return ImportStore(os.environ["TABLE_NAME"], boto3.client("dynamodb"))
    return ImportStore(_stack_outputs(args.stack_name)["TableName"], boto3.client("dynamodb"))


def _rocketchat_cell(args: argparse.Namespace) -> str:
    info = StackInfo.load()
    parameters = info.parameters if info else SamTemplate(REPO_ROOT / "template.yaml").parameters
    return args.cell or parameters["RocketChatCell"]


# -- commands ------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    if StackInfo.load() is not None:
        raise UsageError(f"{state_file()} exists: another local stack runs here (or it died: delete the file)")
    # The terminal shows the banner and the demo's progress bar; everything the functions and moto
    # print (Powertools logs, EMF metrics, warnings) goes to the log file, as Lambda's output goes to
    # CloudWatch Logs: interleaved with the bar, one JSON line per batch broke it up.
    terminal, log_path = sys.stdout, function_log_file()
    with log_path.open("a", buffering=1) as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        stack = LocalStack(api_port=args.port, keep_calls=SERVE_KEEP_CALLS).start()
        try:
            demo.seed_demo(stack.store, stack.template.parameters["RocketChatCell"], default_files(),
                           sample_operations=not args.demo_users)
            stack.info.save()
            print(_banner(stack, log_path), file=terminal, flush=True)
            if args.demo_users:
                _demo_import(stack, args.demo_users, terminal)
            stopped = threading.Event()
            for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGHUP: its terminal closed
                signal.signal(stop_signal, lambda *_: stopped.set())
            stopped.wait()
        finally:
            state_file().unlink(missing_ok=True)
            stack.stop()
            print("local stack stopped", file=sys.__stderr__)


def function_log_file() -> Path:
    """Where `serve` writes what the functions and moto print: beside .local-stack.json."""
    return state_file().with_suffix(".log")


def _banner(stack: LocalStack, log_path: Path) -> str:
    url = stack.api_url
    return f"""
bulk-import local stack
  API          {url}   (every route of template.yaml; moto at {stack.endpoint})
  Logs         {log_path}   (what the functions print: tail -f it)
  Personium    cell "{demo.DEMO_CELL}", root token {demo.ROOT_TOKEN}
  Rocket.Chat  cell "{stack.template.parameters['RocketChatCell']}", X-User-Id {demo.ROCKETCHAT_USER_ID}, X-Auth-Token {demo.ROCKETCHAT_AUTH_TOKEN}
  /v1          cell "{demo.DEMO_CELL}", bearer {demo.API_TOKEN}
  OpenAPI      {url}/openapi.json, Swagger UI {url}/docs

Try:
  curl -i {url}/{demo.DEMO_CELL}/__import -H 'Authorization: Bearer {demo.ROOT_TOKEN}'
  curl -i {url}/api/v1/import.status -H 'X-User-Id: {demo.ROCKETCHAT_USER_ID}' -H 'X-Auth-Token: {demo.ROCKETCHAT_AUTH_TOKEN}'
  curl -i {url}/api/v1/getLatestImportOperations -H 'X-User-Id: {demo.ROCKETCHAT_USER_ID}' -H 'X-Auth-Token: {demo.ROCKETCHAT_AUTH_TOKEN}'
  curl -s {url}/v1/cells/{demo.DEMO_CELL}/imports -H 'Authorization: Bearer {demo.API_TOKEN}'
  .venv/bin/bulk-import imports list --cell {demo.DEMO_CELL}
  .venv/bin/bulk-import invoke PersoniumStatusFunction -e events/PersoniumStatusFunction/status-in-progress.json

Ctrl-C stops it.
"""


def _demo_import(stack: LocalStack, users: int, terminal: TextIO) -> None:
    """Imports generated users (every 20th without an email) into the demo cell, watched over HTTP."""
    name = f"demo-{users}-users"
    default_files().put(snapshot_key(demo.DEMO_CELL, name), demo.demo_users_zip(users))
    start_snapshot_import(stack.store, default_files(), default_executions(), demo.DEMO_CELL, name, "demo")
    print(f"Demo: importing {users:,} generated users into cell '{demo.DEMO_CELL}' "
          f"(bulk-import import watch --cell {demo.DEMO_CELL}):", file=terminal, flush=True)
    final = watch(f"{stack.api_url}/{demo.DEMO_CELL}/__import", demo.ROOT_TOKEN, out=terminal)
    operation = stack.store.latest_operation(demo.DEMO_CELL)
    print(f"Demo import {operation.state.value}: {operation.count.completed:,} imported, {operation.count.error:,} "
          f"failed (they stay staged with their errors), of {operation.count.total:,}. Status: {json.dumps(final)}\n"
          f"Next, through the /v1 API:\n"
          f"  .venv/bin/bulk-import imports show --cell {demo.DEMO_CELL} {operation.id}\n"
          f"  .venv/bin/bulk-import imports errors --cell {demo.DEMO_CELL} {operation.id} [--csv errors.csv]\n"
          f"  .venv/bin/bulk-import imports retry --cell {demo.DEMO_CELL} {operation.id} --corrections FIXES.json\n"
          f"     (FIXES.json: {{\"user:7\": {{\"username\": \"user7\", \"emails\": [\"user7@example.com\"]}}}})",
          file=terminal, flush=True)


def _api_url(args: argparse.Namespace) -> str:
    info = StackInfo.load()
    return info.api_url if info else _stack_outputs(args.stack_name)["ApiUrl"]


def _files(args: argparse.Namespace) -> ImportFiles:
    if _use_local_stack():
        return default_files()
    return ImportFiles(_stack_outputs(args.stack_name)["ImportBucketName"], boto3.client("s3"))


def _executions(args: argparse.Namespace) -> WorkerExecutions:
    if _use_local_stack():
        return default_executions()
    return WorkerExecutions(_stack_outputs(args.stack_name)["ImportStateMachineArn"], boto3.client("stepfunctions"))


def import_start(args: argparse.Namespace) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    store, files = _store(args), _files(args)
    key = f"cells/{args.cell}/uploads/{path.name}"
    with path.open("rb") as file:
        files.put(key, file)  # multipart upload: any size, never whole in memory
    store.put_cell(args.cell)
    try:
        operation = start_file_import(store, files, _executions(args), args.cell, key, path.stem, "cli", kind="file")
    except OperationBusy:
        raise UsageError(f"cell {args.cell} has an import loading or importing; wait for it or cancel it")
    _print_json({"operationId": operation.id, "cell": args.cell, "file": path.name,
                 "status": f"{_api_url(args)}/{args.cell}/__import"})


def import_watch(args: argparse.Namespace) -> int:
    token = create_cell_token(_store(args), args.cell, root=True, lifetime=timedelta(hours=1)).access_token
    final = watch(f"{_api_url(args)}/{args.cell}/__import", token, interval=args.interval)
    _print_json(final)
    return 1 if final["status"] == "import failed" else 0


def import_cancel(args: argparse.Namespace) -> None:
    operation = stop(_store(args), _executions(args), args.cell, clear=False)
    if operation is None:
        raise UsageError(f"cell {args.cell} has no import")
    _print_json({"operationId": operation.id, "state": operation.state.value, "count": operation.count.model_dump()})


def token_create(args: argparse.Namespace) -> None:
    if bool(args.cell_token) == bool(args.user):
        raise UsageError("token create takes either --cell CELL [--root | --api] or --user USER_ID --permission P ...")
    store = _store(args)
    if args.api:
        if not args.cell_token:
            raise UsageError("--api needs --cell CELL")
        permissions = args.api_permission or [ApiPermission.READ, ApiPermission.WRITE]
        _print_json(create_api_credential(store, args.cell_token, permissions, name=args.name).model_dump(mode="json"))
        return
    if args.cell_token:
        _print_json(create_cell_token(store, args.cell_token, root=args.root).model_dump(mode="json"))
        return
    if not args.permission:
        raise UsageError("--user needs at least one --permission (run-import, view-import-operations)")
    issued = create_rocketchat_credential(store, _rocketchat_cell(args), args.user, args.permission)
    _print_json(issued.model_dump(mode="json"))


def invoke(args: argparse.Namespace) -> None:
    """What `sam local invoke` does, in-process against the running local stack."""
    if not _use_local_stack():
        raise UsageError("invoke runs against the local stack: start `bulk-import serve` in the repo root first")
    event = json.loads(Path(args.event).read_text())
    host = _functions_host(StackInfo.load().parameters)
    if args.function not in host.functions:
        raise UsageError(f"no function {args.function} in template.yaml (there are: {', '.join(host.functions)})")
    # Handlers log and emit metrics on stdout, as in Lambda; here stdout is for the result alone.
    with contextlib.redirect_stdout(sys.stderr):
        result = host.invoke(args.function, event)
    _print_json(result)


def openapi_command(args: argparse.Namespace) -> int:
    """Writes (or with --check, compares) the committed OpenAPI document to what the code generates."""
    template = SamTemplate(REPO_ROOT / "template.yaml", LOCAL_PARAMETERS)
    host = FunctionsHost(template.functions())
    os.environ.update({"AWS_DEFAULT_REGION": REGION, **host.environment()} | dict(os.environ))
    generated = openapi.render(openapi.generate(template, host))
    path = openapi.document_path(template)
    if args.check:
        if path.read_text() != generated:
            print(f"{path.relative_to(REPO_ROOT)} differs from the code: run `bulk-import openapi`", file=sys.stderr)
            return 1
        return 0
    path.write_text(generated)
    print(path.relative_to(REPO_ROOT))
    return 0


def demo_seed(args: argparse.Namespace) -> None:
    store = _store(args)
    demo.seed_demo(store, _rocketchat_cell(args), _files(args))
    _print_json({"seeded": True, "cell": demo.DEMO_CELL, "rocketchatCell": _rocketchat_cell(args)})


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="bulk-import", description=__doc__.splitlines()[0])
    root.add_argument("--stack-name", default=os.environ.get("BULK_IMPORT_STACK"),
                      help="deployed stack to talk to when no local stack runs here (default: $BULK_IMPORT_STACK)")
    commands = root.add_subparsers(dest="command", required=True)

    serve_command = commands.add_parser("serve", help="run the local stack")
    serve_command.add_argument("--port", type=int, default=3000)
    serve_command.add_argument("--demo-users", type=int, default=0, metavar="N",
                               help="import N generated users into the demo cell and watch it (make run: 10000)")
    serve_command.set_defaults(run=serve)

    imports = commands.add_parser("import", help="imports").add_subparsers(dest="import_command", required=True)
    start = imports.add_parser("start", help="import a file (CSV zip or JSON Lines) from disk into a cell")
    start.add_argument("file")
    start.add_argument("--cell", required=True)
    start.set_defaults(run=import_start)
    watch_command = imports.add_parser("watch", help="a live progress bar of the cell's import, until it ends")
    watch_command.add_argument("--cell", required=True)
    watch_command.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    watch_command.set_defaults(run=import_watch)
    cancel = imports.add_parser("cancel", help="cancel the cell's running import (within one batch)")
    cancel.add_argument("--cell", required=True)
    cancel.set_defaults(run=import_cancel)
    imports_command.register(commands)

    token = commands.add_parser("token", help="credentials").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="issue a Personium cell token or a Rocket.Chat credential")
    create.add_argument("--cell", dest="cell_token", help="Personium: the cell the token is for (created if new)")
    create.add_argument("--root", action="store_true", help="Personium: grant root privilege on the cell")
    create.add_argument("--user", help="Rocket.Chat: the user id")
    create.add_argument("--permission", action="append", type=Permission, choices=list(Permission),
                        help="Rocket.Chat: a permission to grant (repeatable)")
    create.add_argument("--rocketchat-cell", dest="cell", help="Rocket.Chat: the cell (default: the template's)")
    create.add_argument("--api", action="store_true", help="/v1: issue a bearer credential for --cell")
    create.add_argument("--api-permission", action="append", type=ApiPermission, choices=list(ApiPermission),
                        help="/v1: a permission to grant (repeatable; default both)")
    create.add_argument("--name", default="operator", help="/v1: who holds it (recorded as the imports' user)")
    create.set_defaults(run=token_create)

    invoke_command = commands.add_parser("invoke", help="run a template function's handler on an event file")
    invoke_command.add_argument("function", help="the function's logical id in template.yaml")
    invoke_command.add_argument("-e", "--event", required=True, help="event JSON file (see events/)")
    invoke_command.set_defaults(run=invoke)

    openapi_parser = commands.add_parser("openapi", help="regenerate functions/api_docs/openapi.json from the code")
    openapi_parser.add_argument("--check", action="store_true", help="only report whether it is up to date")
    openapi_parser.set_defaults(run=openapi_command)

    demo_command = commands.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    seed = demo_command.add_parser("seed", help="create the demo credentials and sample operations (dev only)")
    seed.add_argument("--rocketchat-cell", dest="cell")
    seed.set_defaults(run=demo_seed)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except UsageError as exc:
        print(f"bulk-import: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

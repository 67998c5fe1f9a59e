"""bulk-import: the operator's CLI and the local stack.

Commands other than `serve` print only their result on stdout: JSON, or tables with --output table
(`imports` prints tables when stdout is a terminal); messages go to stderr, one line, never a
traceback. Exit codes: 0 success, 1 refused (by the API, AWS, or this machine: a local stack already
running here), 2 usage. From the repo root while `bulk-import serve` runs they talk to the local
stack (found through .local-stack.json); otherwise to the deployed stack named by --stack-name or
BULK_IMPORT_STACK. The global options and the stack a command talks to: common.py.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.metadata
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from bulk_import.dal.s3 import default_files, snapshot_key
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.credentials import ApiPermission, Issued, Permission
from bulk_import.logic.admin import create_api_credential, create_cell_token, create_rocketchat_credential
from bulk_import.logic.imports.snapshots import start_snapshot_import
from bulk_import_cli import common, demo, imports_command
from bulk_import_cli.stack_state import StackInfo, log_dir, state_file
from bulk_import_cli.usage import CliError, Refused, UsageError
from bulk_import_cli.watch import watch

# The local stack (serve, invoke, openapi, sam-env) needs moto and PyYAML: the [local] extra (and
# dev). Imported when used, so that the other commands run without them.
try:
    from bulk_import_cli import sam_env
except ImportError:
    sam_env = None  # type: ignore[assignment]
if TYPE_CHECKING:
    from bulk_import.domain.operation import ImportOperation
    from bulk_import_local.local_stack import LocalStack
    from bulk_import_local.terminal import OutputRouter, Terminal

PACKAGE = "bulk-import"
#: What stops `serve`: Ctrl-C, `kill`, and its terminal closing (SIGHUP).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _rocketchat_cell(args: argparse.Namespace) -> str:
    return args.cell or common.template_parameters(args)["RocketChatCell"]


# -- serve ---------------------------------------------------------------------------------------------


def _template(args: argparse.Namespace) -> Path:
    """The SAM template a command runs: --template, by default template.yaml here (as sam finds it)."""
    path = Path(args.template)
    if not path.is_file():
        raise UsageError(f"{path}: no such template (run this in the project's directory, or pass --template)")
    return path


def _parameter_overrides(pairs: list[str]) -> dict[str, str]:
    """`Name=Value` pairs, as `sam deploy --parameter-overrides` takes them."""
    overrides = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise UsageError(f"{pair!r}: a parameter override is Name=Value")
        overrides[name] = value
    return overrides


def serve(args: argparse.Namespace) -> int:
    """The local stack, until Ctrl-C, `kill` or its terminal closing. The terminal shows the banner,
    one line per HTTP request and the demo's progress bar; what the functions and moto print goes to
    the log files (terminal.py), as Lambda's output goes to CloudWatch Logs."""
    overrides = _parameter_overrides(args.parameter_overrides)
    existing = StackInfo.load()
    if existing is not None:
        if existing.alive():
            raise Refused(
                f"{state_file()} exists: another local stack runs here (pid {existing.pid}, "
                f"{existing.api_url}): stop it first"
            )
        state_file().unlink(missing_ok=True)
        print(f"bulk-import: removed {state_file()}: the local stack that wrote it is gone", file=sys.stderr)
    from bulk_import_local.local_stack import SERVE_KEEP_CALLS, LocalStack
    from bulk_import_local.terminal import OutputRouter, Terminal, routed_output

    os.environ.pop("AWS_PROFILE", None)  # moto takes any credentials; a profile could only fail
    terminal, messages = Terminal(sys.stdout), sys.stderr
    try:
        stack = LocalStack(
            _template(args),
            api_port=args.port,
            keep_calls=SERVE_KEEP_CALLS,
            parameter_overrides=overrides,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    router = OutputRouter(log_dir(), stack.host.functions, terminal if args.verbose else None)
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()
        raise KeyboardInterrupt

    previous = {stop_signal: signal.signal(stop_signal, stop) for stop_signal in STOP_SIGNALS}
    try:
        with routed_output(router, terminal, keep_after_stop=True):
            _start(stack, args.port)
            saved = False
            try:
                demo.seed_demo(
                    stack.store,
                    stack.template.parameters["RocketChatCell"],
                    default_files(),
                    sample_operations=not args.demo_users,
                )
                StackInfo.of(stack).save()
                saved = True
                terminal.print(_banner(stack, router))
                if args.demo_users:
                    _demo_import(stack, args.demo_users, terminal)
                threading.Event().wait()  # until a stop signal raises KeyboardInterrupt here
            except BaseException:
                if not stopping.is_set():  # not a stop: an error to report
                    raise
                # Else the stop itself, or what it broke (the closed terminal under the progress bar).
            finally:
                if saved:
                    state_file().unlink(missing_ok=True)
                stack.stop()
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
    with contextlib.suppress(OSError, ValueError):  # the terminal may be gone
        print("local stack stopped", file=messages)
    return 0


def _start(stack: LocalStack, port: int) -> None:
    try:
        stack.start()
    except OSError as exc:
        with contextlib.suppress(Exception):
            stack.stop()
        if exc.errno == errno.EADDRINUSE:
            raise Refused(f"port {port} is in use: stop what listens there, or pass --port") from exc
        raise


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it (shorter to read and to paste)."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _banner(stack: LocalStack, router: OutputRouter) -> str:
    from bulk_import_local.terminal import STACK_LOG

    url, logs, cell = stack.api_url, _shown(router.directory), demo.DEMO_CELL
    verbose = "here too (--verbose)" if router.terminal is not None else "here too with --verbose"
    token, rocketchat_cell = demo.ROCKETCHAT_AUTH_TOKEN, stack.template.parameters["RocketChatCell"]
    rocketchat = f"-H 'X-User-Id: {demo.ROCKETCHAT_USER_ID}' -H 'X-Auth-Token: {token}'"
    return f"""
bulk-import local stack
  API          {url}   (every route of template.yaml; moto at {stack.endpoint})
  Logs         {logs}/<Function>.log, one per function (Powertools logs, EMF metrics; {verbose}),
               {logs}/{STACK_LOG}.log for moto and the stack: tail -f {logs}/*.log
  Personium    cell "{cell}", root token {demo.ROOT_TOKEN}
  Rocket.Chat  cell "{rocketchat_cell}", X-User-Id {demo.ROCKETCHAT_USER_ID}, X-Auth-Token {token}
  /v1          cell "{cell}", bearer {demo.API_TOKEN}
  OpenAPI      {url}/openapi.json, Swagger UI {url}/docs

Try:
  curl -i {url}/{cell}/__import -H 'Authorization: Bearer {demo.ROOT_TOKEN}'
  curl -i {url}/api/v1/import.status {rocketchat}
  curl -i {url}/api/v1/getLatestImportOperations {rocketchat}
  curl -s {url}/v1/cells/{cell}/imports -H 'Authorization: Bearer {demo.API_TOKEN}'
  .venv/bin/bulk-import imports list --cell {cell}
  .venv/bin/bulk-import invoke PersoniumStatusFunction -e events/PersoniumStatusFunction/status-in-progress.json

Ctrl-C stops it. Requests, one line each:"""


def _demo_import(stack: LocalStack, users: int, terminal: Terminal) -> None:
    """Imports generated users (every 20th without an email) into the demo cell, showing the
    progress bar of `bulk-import imports watch`. Its view is read here, not over HTTP, so that a poll
    a second does not fill the terminal with request lines."""
    from bulk_import.api.native.views import import_view  # here: it creates the functions' Logger (terminal.py)

    name = f"demo-{users}-users"
    default_files().put(snapshot_key(demo.DEMO_CELL, name), demo.demo_users_zip(users))
    started = start_snapshot_import(stack.store, default_files(), default_executions(), demo.DEMO_CELL, name, "demo")
    terminal.print(
        f"Demo: importing {users:,} generated users into cell '{demo.DEMO_CELL}' "
        f"(bulk-import imports watch --cell {demo.DEMO_CELL}):"
    )

    def operation() -> ImportOperation:
        return stack.store.operation(demo.DEMO_CELL, started.id) or started

    watch(lambda: import_view(operation()), terminal.console)
    final = operation()
    terminal.print(
        f"Demo import {final.state.value}: {final.count.completed:,} imported, {final.count.error:,} "
        f"failed (they stay staged with their errors), of {final.count.total:,}.\n"
        f"Next, through the /v1 API:\n"
        f"  .venv/bin/bulk-import imports show --cell {demo.DEMO_CELL} {final.id}\n"
        f"  .venv/bin/bulk-import imports errors --cell {demo.DEMO_CELL} {final.id} [--csv errors.csv]\n"
        f"  .venv/bin/bulk-import imports retry --cell {demo.DEMO_CELL} {final.id} --corrections FIXES.json\n"
        f'     (FIXES.json: {{"user:7": {{"username": "user7", "emails": ["user7@example.com"]}}}})'
    )


# -- the other commands ----------------------------------------------------------------------------------


def token_create(args: argparse.Namespace) -> None:
    if bool(args.cell_token) == bool(args.user):
        raise UsageError("token create takes either --cell CELL [--root | --api] or --user USER_ID --permission P ...")
    if args.api and not args.cell_token:
        raise UsageError("--api needs --cell CELL")
    if args.user and not args.permission:
        raise UsageError("--user needs at least one --permission (run-import, view-import-operations)")
    store = common.store(args)
    issued: Issued
    if args.api:
        permissions = args.api_permission or [ApiPermission.READ, ApiPermission.WRITE]
        issued = create_api_credential(store, args.cell_token, permissions, name=args.name)
    elif args.cell_token:
        issued = create_cell_token(store, args.cell_token, root=args.root)
    else:
        issued = create_rocketchat_credential(store, _rocketchat_cell(args), args.user, args.permission)
    common.print_result(args, issued.to_json())


def invoke(args: argparse.Namespace) -> None:
    """What `sam local invoke` does, in-process against the running local stack."""
    info = common.local_stack(args)
    if info is None:
        raise UsageError("invoke runs against the local stack: start `bulk-import serve` in the repo root first")
    common.use_local_stack(args)
    try:
        event = json.loads(Path(args.event).read_text())
    except OSError as exc:
        raise UsageError(f"{args.event}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{args.event}: not JSON ({exc})") from exc
    host = common.functions_host(info)
    if args.function not in host.functions:
        raise UsageError(f"no function {args.function} in template.yaml (there are: {', '.join(host.functions)})")
    # Handlers log and emit metrics on stdout, as in Lambda; here stdout is for the result alone.
    with contextlib.redirect_stdout(sys.stderr):
        result = host.invoke(args.function, event)
    common.print_result(args, result)


def botocore_data_command(args: argparse.Namespace) -> int:
    """Writes (or with --check, compares) the layer's trimmed botocore data to what the installed
    botocore gives (bulk_import_local.botocore_data)."""
    from bulk_import_local import botocore_data

    directory = botocore_data.data_directory(_template(args).resolve().parent)
    return _write_or_check(
        args,
        directory,
        lambda: botocore_data.committed(directory) == botocore_data.generate(),
        lambda: botocore_data.write(directory),
        "bulk-import botocore-data",
    )


def openapi_command(args: argparse.Namespace) -> int:
    """Writes (or with --check, compares) the committed OpenAPI document to what the code generates."""
    from bulk_import_local import openapi
    from bulk_import_local.functions_host import FunctionsHost
    from bulk_import_local.local_stack import LOCAL_PARAMETERS
    from bulk_import_local.sam_template import REGION, SamTemplate

    template = SamTemplate(_template(args), LOCAL_PARAMETERS)
    host = FunctionsHost(template.functions())
    os.environ.update({"AWS_DEFAULT_REGION": REGION, **host.environment()} | dict(os.environ))
    generated = openapi.render(openapi.generate(template, host))
    path = openapi.document_path(template)
    return _write_or_check(
        args, path, lambda: path.read_text() == generated, lambda: path.write_text(generated), "bulk-import openapi"
    )


def _write_or_check(
    args: argparse.Namespace, target: Path, up_to_date: Callable[[], bool], write: Callable[[], object], command: str
) -> int:
    """A generated file's command: writes `target`, or with --check only says (1) when it is stale."""
    if args.check:
        if not up_to_date():
            print(f"{target} differs from what `{command}` generates: run it", file=sys.stderr)
            return 1
        return 0
    write()
    print(target)
    return 0


def demo_seed(args: argparse.Namespace) -> None:
    store = common.store(args)
    demo.seed_demo(store, _rocketchat_cell(args), common.files(args))
    common.print_result(args, {"seeded": True, "cell": demo.DEMO_CELL, "rocketchatCell": _rocketchat_cell(args)})


# -- the parser ------------------------------------------------------------------------------------------


def version() -> str:
    """The installed package's version (pyproject.toml's, as pip installed it)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="bulk-import",
        description=__doc__.splitlines()[0],
        epilog="Global options (--stack-name, --region, --profile, --output) are also "
        "taken after the subcommand. Exit codes: 0 success, 1 refused (by the "
        "API, AWS or this machine), 2 usage.",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_command = commands.add_parser("serve", help="run the local stack (what `make run` runs)")
    serve_command.add_argument("--port", type=int, default=3000, help="the API's port (0: any free one)")
    serve_command.add_argument(
        "--demo-users",
        type=int,
        default=0,
        metavar="N",
        help="import N generated users into the demo cell and watch it (make run: 10000)",
    )
    serve_command.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print what the functions log here too (it always goes to the log files)",
    )
    serve_command.add_argument(
        "--template",
        "-t",
        default="template.yaml",
        help="the SAM template to run (default: template.yaml here, as sam finds it)",
    )
    serve_command.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, as sam takes them (e.g. SsrfAllowlist=127.0.0.1)",
    )
    serve_command.set_defaults(run=serve)

    imports_command.register(commands)
    imports_command.register_legacy(commands)  # `import start|watch|cancel`: hidden, for one release
    if sam_env is not None:
        sam_env.register(commands)

    token = commands.add_parser("token", help="credentials").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="issue a Personium cell token or a Rocket.Chat credential")
    create.add_argument("--cell", dest="cell_token", help="Personium: the cell the token is for (created if new)")
    create.add_argument("--root", action="store_true", help="Personium: grant root privilege on the cell")
    create.add_argument("--user", help="Rocket.Chat: the user id")
    create.add_argument(
        "--permission",
        action="append",
        type=Permission,
        choices=list(Permission),
        help="Rocket.Chat: a permission to grant (repeatable)",
    )
    create.add_argument("--rocketchat-cell", dest="cell", help="Rocket.Chat: the cell (default: the template's)")
    create.add_argument("--api", action="store_true", help="/v1: issue a bearer credential for --cell")
    create.add_argument(
        "--api-permission",
        action="append",
        type=ApiPermission,
        choices=list(ApiPermission),
        help="/v1: a permission to grant (repeatable; default both)",
    )
    create.add_argument("--name", default="operator", help="/v1: who holds it (recorded as the imports' user)")
    create.set_defaults(run=token_create)

    invoke_command = commands.add_parser("invoke", help="run a template function's handler on an event file")
    invoke_command.add_argument("function", help="the function's logical id in template.yaml")
    invoke_command.add_argument("-e", "--event", required=True, help="event JSON file (see events/)")
    invoke_command.set_defaults(run=invoke)

    openapi_parser = commands.add_parser("openapi", help="regenerate functions/api_docs/openapi.json from the code")
    openapi_parser.add_argument("--check", action="store_true", help="only report whether it is up to date")
    openapi_parser.add_argument(
        "--template",
        "-t",
        default="template.yaml",
        help="the SAM template whose functions document it (default: template.yaml here)",
    )
    openapi_parser.set_defaults(run=openapi_command)

    data_parser = commands.add_parser(
        "botocore-data", help="regenerate the layer's botocore data (models trimmed to the operations it calls)"
    )
    data_parser.add_argument("--check", action="store_true", help="only report whether it is up to date")
    data_parser.add_argument(
        "--template", "-t", default="template.yaml", help="the project's SAM template (default: template.yaml here)"
    )
    data_parser.set_defaults(run=botocore_data_command)

    demo_command = commands.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    seed = demo_command.add_parser("seed", help="create the demo credentials and sample operations (dev only)")
    seed.add_argument("--rocketchat-cell", dest="cell")
    seed.set_defaults(run=demo_seed)

    common.spread_global_options(root)  # last: to every command above, wherever it is registered
    return root


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help and --version (0), or a usage error argparse printed (2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        common.resolve_global_options(args)
        if getattr(args, "deprecated", None):
            print(f"bulk-import: {args.deprecated}", file=sys.stderr)
        return args.run(args) or 0
    except CliError as exc:
        print(f"bulk-import: {exc}", file=sys.stderr)
        return exc.exit_code
    except (BotoCoreError, ClientError) as exc:
        print(f"bulk-import: {common.aws_error_message(exc)}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"bulk-import: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # the local stack's packages, on an install without them
        print(
            f"bulk-import: {args.command} needs {exc.name}, which is not installed: pip install 'bulk-import[local]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

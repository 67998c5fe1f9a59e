"""`bulk-import imports`: the native /v1 API from a terminal (list, show, errors, cancel, retry, watch).

Tables and progress bars are for humans: they are the default when stdout is a terminal; otherwise
(or with --json) stdout gets the API's JSON bodies, as the rest of the CLI prints JSON. The API's
refusals are RFC 9457 problem documents: their title, status and detail go to stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, TextIO
from urllib.parse import quote

import requests
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from bulk_import.admin import create_api_credential
from bulk_import.credentials import ApiPermission
from bulk_import.model import ACTIVE_STATES, ImportState
from bulk_import_cli.local_stack import StackInfo
from bulk_import_cli.usage import UsageError

TIMEOUT = 30
CSV_CHUNK = 64 * 1024
NONE = "—"
STATE_STYLES = {ImportState.DONE: "green", ImportState.ERROR: "red", ImportState.CANCELED: "yellow",
                ImportState.LOADING: "cyan", ImportState.IMPORTING: "cyan"}


# -- talking to the API ------------------------------------------------------------------------------


def _send(method: str, url: str, **options: Any) -> requests.Response:
    """One HTTP call; a failure to connect or an error status becomes UsageError."""
    try:
        response = requests.request(method, url, timeout=TIMEOUT, **options)
    except requests.RequestException as exc:
        raise UsageError(f"cannot reach {url}: {exc}") from exc
    if response.status_code >= 400:
        raise UsageError(_problem_message(response))
    return response


def _problem_message(response: requests.Response) -> str:
    """`<title> (<status>): <detail or errors>` of a problem document; what there is of anything
    else (a gateway's own refusal, a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "title" not in body:
        return f"HTTP {response.status_code} from {response.url}: {response.text.strip()[:200] or response.reason}"
    heading = f"{body['title']} ({body.get('status', response.status_code)})"
    explanation = body.get("detail") or "; ".join(body.get("errors") or [])
    return f"{heading}: {explanation}" if explanation else heading


@dataclass(frozen=True)
class CellApi:
    """The /v1 routes of one cell, called with one bearer token."""

    url: str
    token: str

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **options: Any) -> requests.Response:
        return _send(method, f"{self.url}/{path}",
                     headers={"Authorization": f"Bearer {self.token}", **(headers or {})}, **options)

    def json(self, method: str, path: str, **options: Any) -> dict:
        return self.call(method, path, **options).json()


def _import_path(operation_id: str, action: str = "") -> str:
    return f"imports/{quote(operation_id, safe='')}" + (f"/{action}" if action else "")


def _cell_api(args: argparse.Namespace) -> CellApi:
    """The local stack when one runs here (as the rest of the CLI), else --api-url, else the ApiUrl
    output of the stack named by --stack-name."""
    info = StackInfo.load()
    base = info.api_url if info else args.api_url
    if not base and args.stack_name:
        from bulk_import_cli.main import _stack_outputs  # main imports this module

        base = _stack_outputs(args.stack_name)["ApiUrl"]
    if not base:
        raise UsageError("no local stack is running here and no API URL was given: pass --api-url "
                            "or set BULK_IMPORT_API_URL (the stack's ApiUrl output), or --stack-name")
    return CellApi(f"{base.rstrip('/')}/v1/cells/{quote(args.cell, safe='')}", _token(args, info))


def _token(args: argparse.Namespace, info: StackInfo | None) -> str:
    """--token, else a short-lived credential issued in the table of the local stack or of the stack
    named by --stack-name (with the caller's AWS credentials, as `import watch` does)."""
    if args.token:
        return args.token
    if info is None and not args.stack_name:
        raise UsageError("no token: pass --token or set BULK_IMPORT_TOKEN "
                            "(`bulk-import token create --api --cell CELL` issues one), or --stack-name")
    from bulk_import_cli.main import _store  # main imports this module

    return create_api_credential(_store(args), args.cell, [ApiPermission.READ, ApiPermission.WRITE], name="cli",
                                 lifetime=timedelta(hours=1)).token


def _pages(api: CellApi, path: str, params: dict[str, Any], follow: bool) -> Iterator[dict]:
    """The listing's pages, through every nextCursor when `follow`."""
    while True:
        page = api.json("GET", path, params=params)
        yield page
        if not follow or not page.get("nextCursor"):
            return
        params = {**params, "cursor": page["nextCursor"]}


def _joined(pages: Iterator[dict]) -> dict:
    """The pages as one listing of the API's shape, so that --json prints one document."""
    items, next_cursor = [], None
    for page in pages:
        items += page["items"]
        next_cursor = page.get("nextCursor")
    return {"items": items, "nextCursor": next_cursor}


# -- rendering -----------------------------------------------------------------------------------------


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S") if value else NONE


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return NONE
    hours, rest = divmod(int(seconds), 3600)
    minutes, rest = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def _rate(view: dict) -> str:
    return f"{view['rate']:,.1f} records/s" if view.get("rate") is not None else NONE


def _state(view: dict) -> Text:
    state = Text(view["state"], style=STATE_STYLES.get(view["state"], ""))
    return state.append(" stalled", style="bold red") if view["stalled"] else state


def _counts(counts: dict) -> str:
    return f"{counts['completed']:,}/{counts['error']:,}/{counts['total']:,}"


def imports_table(page: dict) -> Table:
    table = Table(caption=None if page["items"] else "no imports")
    # The id is what `show` and the others take: never cut; the name gives way first.
    table.add_column("ID", no_wrap=True, min_width=24)
    for header, justify in (("Name", "left"), ("State", "left"), ("%", "right"),
                            ("Completed/Errors/Total", "right"), ("Started (UTC)", "left"),
                            ("Finished (UTC)", "left")):
        table.add_column(header, justify=justify)
    for view in page["items"]:
        table.add_row(view["id"], view.get("name") or NONE, _state(view), f"{view['percent']}%",
                      _counts(view["counts"]), _when(view["startedAt"]), _when(view.get("finishedAt")))
    return table


def import_table(view: dict) -> Table:
    counts, failure = view["counts"], view.get("failure")
    table = Table(title=f"Import {view['id']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("Name", view.get("name") or NONE),
        ("State", _state(view)),
        ("Step", view["step"]),
        ("Records", f"{counts['total']:,} (users {counts['users']:,}, channels {counts['channels']:,}, "
                    f"messages {counts['messages']:,})"),
        ("Completed", f"{counts['completed']:,}"),
        ("Errors", f"{counts['error']:,}"),
        ("Percent", f"{view['percent']}%"),
        ("Rate", _rate(view)),
        ("ETA", _duration(view.get("etaSeconds"))),
        ("Started (UTC)", _when(view["startedAt"])),
        ("Updated (UTC)", _when(view["updatedAt"])),
        ("Heartbeat (UTC)", _when(view["heartbeatAt"])),
        ("Finished (UTC)", _when(view.get("finishedAt"))),
        ("Expires (UTC)", _when(view.get("expiresAt"))),
        ("Parent", view.get("parentId") or NONE),
        ("Failure", f"{failure['code']}: {failure['message']}" if failure else NONE),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def failed_records_table(page: dict) -> Table:
    table = Table(caption=None if page["items"] else "no failed records")
    for header in ("Record", "Source", "Code", "Message"):
        table.add_column(header, overflow="fold")
    for record in page["items"]:
        table.add_row(record["record"], record["source"], record["code"], record["message"])
    return table


def _wants_json(args: argparse.Namespace) -> bool:
    return args.output == "json" if args.output else not sys.stdout.isatty()


def _print(args: argparse.Namespace, body: dict, render: Callable[[dict], Table]) -> None:
    if _wants_json(args):
        from bulk_import_cli.main import _print_json  # main imports this module

        _print_json(body)
    else:
        Console().print(render(body))


# -- commands -------------------------------------------------------------------------------------------


def imports_list(args: argparse.Namespace) -> None:
    params = {"limit": args.limit, "state": args.state, "cursor": args.cursor}
    page = _joined(_pages(_cell_api(args), "imports", {k: v for k, v in params.items() if v is not None}, args.all))
    _print(args, page, imports_table)
    if page["nextCursor"]:
        print(f"more imports: --cursor {page['nextCursor']} (or --all)", file=sys.stderr)


def imports_show(args: argparse.Namespace) -> None:
    _print(args, _cell_api(args).json("GET", _import_path(args.id)), import_table)


def imports_errors(args: argparse.Namespace) -> None:
    api = _cell_api(args)
    path = _import_path(args.id, "errors")
    if args.csv:
        _download_csv(api, path, args.csv)
        return
    _print(args, _joined(_pages(api, path, {"limit": 1000}, follow=True)), failed_records_table)


def _download_csv(api: CellApi, path: str, target: str) -> None:
    """The API writes the CSV to S3 and answers 303 with a presigned link: fetched without our
    Authorization header (S3 takes one credential only), streamed to `target` ('-': stdout)."""
    redirect = api.call("GET", path, headers={"Accept": "text/csv"}, allow_redirects=False)
    if redirect.status_code != 303 or "Location" not in redirect.headers:
        raise UsageError(f"expected a 303 redirect to the CSV, got HTTP {redirect.status_code}")
    download = _send("GET", redirect.headers["Location"], stream=True)
    download.encoding = "utf-8"
    with download, _text_output(target) as out:
        for chunk in download.iter_content(CSV_CHUNK, decode_unicode=True):
            out.write(chunk)
    if target != "-":
        print(f"wrote {target}", file=sys.stderr)


def _text_output(target: str) -> ContextManager[TextIO]:
    """stdout for '-' (left open), else the file, created or truncated."""
    if target == "-":
        return contextlib.nullcontext(sys.stdout)
    try:
        return open(target, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"{target}: {exc.strerror}") from exc


def imports_cancel(args: argparse.Namespace) -> None:
    _print(args, _cell_api(args).json("POST", _import_path(args.id, "cancel")), import_table)


def imports_retry(args: argparse.Namespace) -> None:
    body = {"corrections": _corrections(args.corrections)} if args.corrections else None
    _print(args, _cell_api(args).json("POST", _import_path(args.id, "retry"), json=body), import_table)


def _corrections(path: str) -> dict:
    try:
        corrections = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(corrections, dict):
        raise UsageError(f'{path}: expected an object of fixed records by record id, such as {{"user:12": {{...}}}}')
    return corrections


def imports_watch(args: argparse.Namespace) -> int:
    final = _watch(_cell_api(args), args.id, args.interval)
    _print(args, final, import_table)
    return 0 if final["state"] == ImportState.DONE else 1


def _watch(api: CellApi, operation_id: str, interval: float) -> dict:
    """Polls the import until it is no longer active, drawing its progress on stderr (stdout is for
    the result); returns the last view."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[percent]:>3}%"),
               MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"))
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(operation_id, total=None, percent=0, rate=NONE, eta=NONE)
        while True:
            view = api.json("GET", _import_path(operation_id))
            counts = view["counts"]
            progress.update(task, description=escape(f"{view.get('name') or view['id']} {_state(view)}"),
                            completed=counts["completed"] + counts["error"], total=counts["total"] or None,
                            percent=view["percent"], rate=_rate(view), eta=_duration(view.get("etaSeconds")))
            if view["state"] not in ACTIVE_STATES:
                return view
            time.sleep(interval)


# -- the parser ------------------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `imports` and its subcommands to the CLI's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cell", required=True)
    common.add_argument("--api-url", default=os.environ.get("BULK_IMPORT_API_URL"),
                        help="the stack's ApiUrl output, when no local stack runs here (default: $BULK_IMPORT_API_URL)")
    common.add_argument("--token", default=os.environ.get("BULK_IMPORT_TOKEN"),
                        help="a /v1 bearer credential (default: $BULK_IMPORT_TOKEN; "
                             "against the local stack, one is issued for the command)")
    output = common.add_mutually_exclusive_group()
    output.add_argument("--json", dest="output", action="store_const", const="json",
                        help="print the API's JSON (default when stdout is not a terminal)")
    output.add_argument("--table", dest="output", action="store_const", const="table",
                        help="print tables (default when stdout is a terminal)")
    imports = commands.add_parser("imports", help="imports through the /v1 API: list, show, errors, cancel, retry, "
                                  "watch").add_subparsers(dest="imports_command", required=True)

    def add(name: str, run: Callable, help: str, takes_id: bool = True) -> argparse.ArgumentParser:
        command = imports.add_parser(name, help=help, parents=[common])
        if takes_id:
            command.add_argument("id", help="the import's id")
        command.set_defaults(run=run)
        return command

    listing = add("list", imports_list, "the cell's imports, newest first", takes_id=False)
    listing.add_argument("--state", choices=[state.value for state in ImportState], help="only imports in this state")
    listing.add_argument("--limit", type=int, help="imports per page (API default 20, at most 1000)")
    listing.add_argument("--cursor", help="continue from the nextCursor a previous page gave")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")
    add("show", imports_show, "one import: state, counts, rate, ETA")
    errors = add("errors", imports_errors, "the import's failed records (every page)")
    errors.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                        help="write them as CSV to FILE (or stdout) instead")
    add("cancel", imports_cancel, "cancel a loading or importing import")
    retry = add("retry", imports_retry, "import the import's failed records again, as a new import")
    retry.add_argument("--corrections", metavar="FILE.json", help='fixed records by id: {"user:12": {...}}')
    watch = add("watch", imports_watch, "a live progress bar until the import ends (exit 1 unless done)")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

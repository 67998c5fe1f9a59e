"""`bulk-import imports`: imports through the native /v1 API from a terminal (start, list, show,
errors, watch, cancel, retry), and the hidden `import` spellings of the releases before.

Tables and progress bars are for humans: they are the default when stdout is a terminal; otherwise
(or with --output json) stdout gets the API's JSON bodies, as the rest of the CLI prints JSON. The
API's refusals are RFC 9457 problem documents: their title, status and detail go to stderr, exit
code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from urllib.parse import quote

import requests
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bulk_import.domain.operation import ImportState
from bulk_import_cli import common
from bulk_import_cli.usage import Refused, UsageError
from bulk_import_cli.watch import NONE, duration, rate, watch

TIMEOUT = 30
CSV_CHUNK = 64 * 1024
STATE_STYLES = {
    ImportState.DONE: "green",
    ImportState.ERROR: "red",
    ImportState.CANCELED: "yellow",
    ImportState.LOADING: "cyan",
    ImportState.IMPORTING: "cyan",
}


# -- talking to the API ------------------------------------------------------------------------------


def _send(method: str, url: str, **options: Any) -> requests.Response:
    """One HTTP call; a failure to connect or an error status becomes Refused (exit code 1)."""
    try:
        response = requests.request(method, url, timeout=TIMEOUT, **options)
    except requests.RequestException as exc:
        raise Refused(f"cannot reach {url.split('?')[0]}: {_reason(exc)}") from exc
    if response.status_code >= 400:
        raise Refused(_problem_message(response))
    return response


def _reason(exc: BaseException) -> str:
    """What failed at the bottom of requests' chain of errors (`Connection refused`, `Name or service
    not known`), else its whole message."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return " ".join(str(exc).split())


def _problem_message(response: requests.Response) -> str:
    """`<title> (<status>): <detail or errors>` of a problem document; what there is of anything
    else (a gateway's own refusal, a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "title" not in body:
        text = " ".join(response.text.split())[:200]
        return f"HTTP {response.status_code} from {response.url.split('?')[0]}: {text or response.reason}"
    heading = f"{body['title']} ({body.get('status', response.status_code)})"
    explanation = body.get("detail") or "; ".join(body.get("errors") or [])
    return f"{heading}: {explanation}" if explanation else heading


@dataclass(frozen=True)
class CellApi:
    """The /v1 routes of one cell, called with one bearer token."""

    url: str
    token: str

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **options: Any) -> requests.Response:
        return _send(
            method,
            f"{self.url}/{path}",
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
            **options,
        )

    def json(self, method: str, path: str, **options: Any) -> dict:
        return self.call(method, path, **options).json()


def _import_path(operation_id: str, action: str = "") -> str:
    return f"imports/{quote(operation_id, safe='')}" + (f"/{action}" if action else "")


def _cell_api(args: argparse.Namespace) -> CellApi:
    base, can_issue = _api_base(args)
    token = args.token or os.environ.get("BULK_IMPORT_TOKEN")
    if not token:
        if not can_issue:
            raise UsageError(
                "no token: pass --token or set BULK_IMPORT_TOKEN "
                "(`bulk-import token create --api --cell CELL` issues one)"
            )
        token = _issue_token(args)
    return CellApi(f"{base.rstrip('/')}/v1/cells/{quote(args.cell, safe='')}", token)


def _api_base(args: argparse.Namespace) -> tuple[str, bool]:
    """The API's URL, and whether this command can issue itself a credential in that stack's table.
    In order: --api-url, --stack-name given on the command line, the local stack running here,
    $BULK_IMPORT_API_URL, $BULK_IMPORT_STACK."""
    if args.api_url:
        return args.api_url, False
    if not args.stack_name_given:
        info = common.local_stack(args)
        if info is not None:
            return info.api_url, True
        if os.environ.get("BULK_IMPORT_API_URL"):
            return os.environ["BULK_IMPORT_API_URL"], False
    if args.stack_name:
        return common.stack_outputs(args)["ApiUrl"], True
    raise UsageError(
        "no local stack is running here and no API URL was given: pass --api-url "
        "or set BULK_IMPORT_API_URL (the stack's ApiUrl output), or --stack-name"
    )


def _issue_token(args: argparse.Namespace) -> str:
    """A one-hour /v1 credential issued in the table of the local stack or of the named stack (with
    the caller's AWS credentials)."""
    from bulk_import.domain.credentials import ApiPermission
    from bulk_import.logic.admin import create_api_credential

    return create_api_credential(
        common.store(args),
        args.cell,
        [ApiPermission.READ, ApiPermission.WRITE],
        name="cli",
        lifetime=timedelta(hours=1),
    ).token


def _operation_id(api: CellApi, args: argparse.Namespace) -> str:
    """The import the command names, else the cell's latest."""
    if args.id:
        return args.id
    latest = api.json("GET", "imports", params={"limit": 1})["items"]
    if not latest:
        raise Refused(f"cell {args.cell} has no import")
    return latest[0]["id"]


def _pages(api: CellApi, path: str, params: dict[str, Any], follow: bool) -> Iterator[dict]:
    """The listing's pages, through every nextCursor when `follow`."""
    while True:
        page = api.json("GET", path, params=params)
        yield page
        if not follow or not page.get("nextCursor"):
            return
        params = {**params, "cursor": page["nextCursor"]}


def _joined(pages: Iterator[dict]) -> dict:
    """The pages as one listing of the API's shape, so that JSON output is one document."""
    items, next_cursor = [], None
    for page in pages:
        items += page["items"]
        next_cursor = page.get("nextCursor")
    return {"items": items, "nextCursor": next_cursor}


# -- rendering -----------------------------------------------------------------------------------------


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S") if value else NONE


def _state(view: dict) -> Text:
    state = Text(view["state"], style=STATE_STYLES.get(view["state"], ""))
    return state.append(" stalled", style="bold red") if view["stalled"] else state


def _counts(counts: dict) -> str:
    return f"{counts['completed']:,}/{counts['error']:,}/{counts['total']:,}"


def imports_table(page: dict) -> Table:
    table = Table(caption=None if page["items"] else "no imports")
    # The id is what `show` and the others take: never cut; the name gives way first.
    table.add_column("ID", no_wrap=True, min_width=24)
    for header in ("Name", "State", "%", "Completed/Errors/Total", "Started (UTC)", "Finished (UTC)"):
        table.add_column(header, justify="right" if header in ("%", "Completed/Errors/Total") else "left")
    for view in page["items"]:
        table.add_row(
            view["id"],
            view.get("name") or NONE,
            _state(view),
            f"{view['percent']}%",
            _counts(view["counts"]),
            _when(view["startedAt"]),
            _when(view.get("finishedAt")),
        )
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
        (
            "Records",
            f"{counts['total']:,} (users {counts['users']:,}, channels {counts['channels']:,}, "
            f"messages {counts['messages']:,})",
        ),
        ("Completed", f"{counts['completed']:,}"),
        ("Errors", f"{counts['error']:,}"),
        ("Percent", f"{view['percent']}%"),
        ("Rate", rate(view)),
        ("ETA", duration(view.get("etaSeconds"))),
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


def _print(args: argparse.Namespace, body: dict, render: Callable[[dict], Table]) -> None:
    common.print_result(args, body, render, tables_on_a_terminal=True)


# -- commands -------------------------------------------------------------------------------------------


def imports_start(args: argparse.Namespace) -> None:
    """Uploads the file through the API's presigned URL(s), streamed (any size, never whole in
    memory), then starts its import."""
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    api = _cell_api(args)
    size = path.stat().st_size
    upload = api.json("POST", "uploads", json={"filename": path.name, "size": size})
    with path.open("rb") as file:
        if upload.get("url"):
            _send("PUT", upload["url"], data=_FilePart(file, 0, size))
        else:  # above 5 GiB: one PUT per part, then their ETags
            part_size = upload["partSize"]
            etags = [
                _send("PUT", part["url"], data=_FilePart(file, index * part_size, part_size)).headers["ETag"]
                for index, part in enumerate(upload["parts"])
            ]
            api.json("POST", f"uploads/{quote(upload['uploadId'], safe='')}/complete", json={"etags": etags})
    request = {"uploadId": upload["uploadId"], **({"name": args.name} if args.name else {})}
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    view = api.json("POST", "imports", json=request, headers=headers)
    _print(args, view, import_table)
    print(f"follow it: bulk-import imports watch --cell {args.cell} {view['id']}", file=sys.stderr)


class _FilePart:
    """`size` bytes of `file` from `offset` (fewer at its end), read as requests streams a body,
    with the length S3 needs up front."""

    def __init__(self, file: BinaryIO, offset: int, size: int) -> None:
        file.seek(offset)
        self._file, self._left = file, max(0, min(size, os.fstat(file.fileno()).st_size - offset))

    def __len__(self) -> int:
        return self._left

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(chunk)
        return chunk


def imports_list(args: argparse.Namespace) -> None:
    params = {"limit": args.limit, "state": args.state, "cursor": args.cursor}
    page = _joined(_pages(_cell_api(args), "imports", {k: v for k, v in params.items() if v is not None}, args.all))
    _print(args, page, imports_table)
    if page["nextCursor"]:
        print(f"more imports: --cursor {page['nextCursor']} (or --all)", file=sys.stderr)


def imports_show(args: argparse.Namespace) -> None:
    api = _cell_api(args)
    _print(args, api.json("GET", _import_path(_operation_id(api, args))), import_table)


def imports_errors(args: argparse.Namespace) -> None:
    api = _cell_api(args)
    path = _import_path(_operation_id(api, args), "errors")
    if args.csv:
        _download_csv(api, path, args.csv)
        return
    _print(args, _joined(_pages(api, path, {"limit": 1000}, follow=True)), failed_records_table)


def _download_csv(api: CellApi, path: str, target: str) -> None:
    """The API writes the CSV to S3 and answers 303 with a presigned link: fetched without our
    Authorization header (S3 takes one credential only), streamed to `target` ('-': stdout)."""
    redirect = api.call("GET", path, headers={"Accept": "text/csv"}, allow_redirects=False)
    if redirect.status_code != 303 or "Location" not in redirect.headers:
        raise Refused(f"expected a 303 redirect to the CSV, got HTTP {redirect.status_code}")
    download = _send("GET", redirect.headers["Location"], stream=True)
    download.encoding = "utf-8"
    with download, _text_output(target) as out:
        for chunk in download.iter_content(CSV_CHUNK, decode_unicode=True):
            out.write(chunk)
    if target != "-":
        print(f"wrote {target}", file=sys.stderr)


def _text_output(target: str) -> contextlib.AbstractContextManager[TextIO]:
    """stdout for '-' (left open), else the file, created or truncated."""
    if target == "-":
        return contextlib.nullcontext(sys.stdout)
    try:
        return open(target, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"{target}: {exc.strerror}") from exc


def imports_cancel(args: argparse.Namespace) -> None:
    api = _cell_api(args)
    _print(args, api.json("POST", _import_path(_operation_id(api, args), "cancel")), import_table)


def imports_retry(args: argparse.Namespace) -> None:
    body = {"corrections": _corrections(args.corrections)} if args.corrections else None
    api = _cell_api(args)
    _print(args, api.json("POST", _import_path(_operation_id(api, args), "retry"), json=body), import_table)


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
    """Progress on stderr (stdout is for the result); exit 1 unless the import ended done."""
    api = _cell_api(args)
    path = _import_path(_operation_id(api, args))
    final = watch(lambda: api.json("GET", path), Console(stderr=True), args.interval)
    _print(args, final, import_table)
    return 0 if final["state"] == ImportState.DONE else 1


# -- the parser ------------------------------------------------------------------------------------------


def _common_options() -> argparse.ArgumentParser:
    common_options = argparse.ArgumentParser(add_help=False)
    common_options.add_argument("--cell", required=True)
    common_options.add_argument(
        "--api-url",
        help="the stack's ApiUrl output, instead of the local stack or "
        "--stack-name's (default: $BULK_IMPORT_API_URL when no local stack runs here)",
    )
    common_options.add_argument(
        "--token",
        help="a /v1 bearer credential (default: $BULK_IMPORT_TOKEN; "
        "against the local stack or --stack-name, one is issued for the command)",
    )
    output = common_options.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        dest="output_format",
        action="store_const",
        const="json",
        default=argparse.SUPPRESS,
        help="--output json",
    )
    output.add_argument(
        "--table",
        dest="output_format",
        action="store_const",
        const="table",
        default=argparse.SUPPRESS,
        help="--output table",
    )
    return common_options


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `imports` and its subcommands to the CLI's subcommands."""
    group = commands.add_parser(
        "imports",
        help="imports: start, list, show, errors, watch, cancel, retry",
        description="Imports through the /v1 API. An ID defaults to the cell's latest import.",
    )
    imports = group.add_subparsers(dest="imports_command", required=True, metavar="COMMAND")
    add = _adder(imports, _common_options())

    start = add("start", imports_start, "import a file (CSV zip or JSON Lines) from disk into a cell", takes_id=False)
    start.add_argument("file")
    start.add_argument("--name", help="shown as the import's name (default: the file's)")
    start.add_argument("--idempotency-key", metavar="KEY", help="a repeat with the same key starts nothing (24 h)")
    listing = add("list", imports_list, "the cell's imports, newest first", takes_id=False)
    listing.add_argument("--state", choices=[state.value for state in ImportState], help="only imports in this state")
    listing.add_argument("--limit", type=int, help="imports per page (API default 20, at most 1000)")
    listing.add_argument("--cursor", help="continue from the nextCursor a previous page gave")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")
    add("show", imports_show, "one import: state, counts, rate, ETA")
    errors = add("errors", imports_errors, "the import's failed records (every page)")
    errors.add_argument(
        "--csv", nargs="?", const="-", metavar="FILE", help="write them as CSV to FILE (or stdout) instead"
    )
    watch_command = add("watch", imports_watch, "a live progress bar until the import ends (exit 1 unless done)")
    watch_command.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    add("cancel", imports_cancel, "cancel a loading or importing import (within one batch)")
    retry = add("retry", imports_retry, "import the import's failed records again, as a new import")
    retry.add_argument("--corrections", metavar="FILE.json", help='fixed records by id: {"user:12": {...}}')


def register_legacy(commands: argparse._SubParsersAction) -> None:
    """`import start|watch|cancel`, the spellings before `imports` took them over: hidden, kept for
    one release, each warning on stderr (main() prints `deprecated`)."""
    legacy = commands.add_parser("import").add_subparsers(dest="import_command", required=True)  # no help: hidden
    add = _adder(legacy, _common_options())
    start = add("start", imports_start, "", takes_id=False)
    start.add_argument("file")
    start.set_defaults(name=None, idempotency_key=None)
    add("watch", imports_watch, "").add_argument("--interval", type=float, default=1.0)
    add("cancel", imports_cancel, "")
    legacy_parser = commands.choices["import"]
    legacy_parser.set_defaults(
        deprecated="`bulk-import import` is deprecated and goes in the next release: use `bulk-import imports`"
    )


def _adder(subcommands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> Callable:
    def add(name: str, run: Callable, help: str, takes_id: bool = True) -> argparse.ArgumentParser:
        command = subcommands.add_parser(name, help=help, parents=[parent])
        if takes_id:
            command.add_argument("id", nargs="?", help="the import's id (default: the cell's latest import)")
        command.set_defaults(run=run)
        return command

    return add

"""An import's progress until it ends, from its /v1 view (`bulk-import imports watch`, and the
demo import of `bulk-import serve`).

On a terminal, rich's live progress bar; anywhere else (a CI log, a pipe, a file) the bar cannot be
redrawn, so it is one plain line when the state changes and at every 10 %, and the final one: a
log shows steady progress instead of carriage returns or nothing until the end. The live bar
leaves sys.stdout and sys.stderr alone (serve routes them to log files) and lets lines printed on
the same Console pass above it, whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bulk_import.domain.operation import ACTIVE_STATES

NONE = "—"
#: Without a terminal: a line at every this many percent (and at every change of state).
PLAIN_STEP = 10


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    hours, rest = divmod(int(seconds), 3600)
    minutes, rest = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def rate(view: dict) -> str:
    return f"{view['rate']:,.1f} records/s" if view.get("rate") is not None else NONE


def state(view: dict) -> str:
    return view["state"] + (" stalled" if view.get("stalled") else "")


def processed(view: dict) -> str:
    counts = view["counts"]
    return f"{counts['completed'] + counts['error']:,}/{counts['total']:,}"


def plain_line(view: dict) -> str:
    """The progress as one line of text: `users.jsonl importing  40% 4,000/10,000 150.0 records/s ETA 40s`."""
    return (
        f"{view.get('name') or view['id']} {state(view)} {view['percent']:>3}% {processed(view)} "
        f"{rate(view)} ETA {duration(view.get('etaSeconds'))}"
    )


def watch(fetch: Callable[[], dict], console: Console, interval: float = 1.0) -> dict:
    """Calls `fetch` (the import's /v1 view) every `interval` seconds until the import is no longer
    active, showing its progress on `console`; returns the last view."""
    if console.is_terminal and not console.is_dumb_terminal:
        return _live(fetch, console, interval)
    return _plain(fetch, console, interval)


def _live(fetch: Callable[[], dict], console: Console, interval: float) -> dict:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[percent]:>3}%"),
        TextColumn("{task.fields[processed]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task("", total=None, percent=0, processed="", rate=NONE, eta=NONE)
        while True:
            view = fetch()
            counts = view["counts"]
            progress.update(
                task,
                description=escape(f"{view.get('name') or view['id']} {state(view)}"),
                completed=counts["completed"] + counts["error"],
                total=counts["total"] or None,
                percent=view["percent"],
                processed=processed(view),
                rate=rate(view),
                eta=duration(view.get("etaSeconds")),
            )
            if view["state"] not in ACTIVE_STATES:
                return view
            time.sleep(interval)


def _plain(fetch: Callable[[], dict], console: Console, interval: float) -> dict:
    shown: tuple[str, int] | None = None  # (state, percent step) of the last line
    while True:
        view = fetch()
        done = view["state"] not in ACTIVE_STATES
        now = (state(view), view["percent"] // PLAIN_STEP)
        if now != shown or done:
            console.print(plain_line(view), markup=False, highlight=False, emoji=False, soft_wrap=True)
            shown = now
        if done:
            return view
        time.sleep(interval)

"""`bulk-import serve`'s terminal, as `sam local start-api` users know it: the banner, one line per
HTTP request and the demo's progress bar, none breaking up another; what the functions print
(Powertools' JSON log lines, EMF metrics) goes to a log file per function, and with --verbose here
too.

The functions run in this process (functions_host.py), so what they print is this process's stdout
and stderr. While serve runs both are an OutputRouter: each whole line goes by
sdk_boundary.current_function (the function whose handler runs in the writing thread, and the
threads it started) to `<log dir>/<Function>.log`, and every other line (moto, the local stack, the
traceback of a function that raised, which the gateway prints after the function returned: its
request line shows the 502) to `<log dir>/local-stack.log`. Lines reach the terminal only through
one rich Console, which prints them above a live progress bar.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text

from bulk_import_local.sdk_boundary import current_function

#: The log of whatever no function printed (a function's logical id is alphanumeric: no clash).
STACK_LOG = "local-stack"
#: The logger gateway.py writes its request lines to.
REQUEST_LOGGER = "bulk_import_local.gateway"


class Terminal:
    """The terminal serve was started in. Printing never fails: once the terminal is gone (SIGHUP:
    it was closed), lines are dropped while the stack shuts down."""

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream, highlight=False, soft_wrap=True, emoji=False)
        self._gone = False

    def print(self, line: str | Text) -> None:
        if self._gone:
            return
        try:
            self.console.print(line, markup=False)
        except (OSError, ValueError):  # EIO: the terminal closed; ValueError: the stream was closed
            self._gone = True


class RequestLines(logging.Handler):
    """gateway.py's request log records as terminal lines: `12:00:01 GET /demo/__import 200 12ms`,
    a 4xx in yellow and a 5xx in red (on a terminal)."""

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(logging.INFO)
        self.terminal = terminal

    def emit(self, record: logging.LogRecord) -> None:
        try:
            status = int(getattr(record, "status", 0))
            style = "red" if status >= 500 else "yellow" if status >= 400 else ""
            self.terminal.print(
                Text.assemble(
                    (time.strftime("%H:%M:%S ", time.localtime(record.created)), "dim"), (record.getMessage(), style)
                )
            )
        except Exception:
            self.handleError(record)


class OutputRouter(io.TextIOBase):
    """A stream for sys.stdout and sys.stderr that writes each whole line to the log of the function
    that wrote it (see the module's docstring); with `terminal`, prints it there too, after the
    function's name. A thread's unfinished line waits for its newline (print() writes the text and
    the newline separately, and threads must not cut each other's lines)."""

    def __init__(self, directory: Path, functions: Iterable[str], terminal: Terminal | None = None) -> None:
        super().__init__()
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.terminal = directory, terminal
        self._lock = threading.Lock()
        self._pending = threading.local()
        # Every function's file exists from the start, empty, so that `tail -f` can follow it.
        self._files = {name: self._open(name) for name in (*functions, STACK_LOG)}

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def _open(self, name: str) -> TextIO:
        return self.path(name).open("w", encoding="utf-8", buffering=1)  # a new run, a new log

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        *lines, rest = (getattr(self._pending, "text", "") + text).split("\n")
        self._pending.text = rest
        for line in lines:
            self._emit(current_function.get() or STACK_LOG, line)
        return len(text)

    def _emit(self, name: str, line: str) -> None:
        with self._lock:
            if name not in self._files:  # a function the template did not list at start
                self._files[name] = self._open(name)
            if not self._files[name].closed:
                self._files[name].write(line + "\n")
        if self.terminal is not None:
            self.terminal.print(Text.assemble((f"{name} ", "dim"), line))

    def close(self) -> None:
        with self._lock:
            for file in self._files.values():
                file.close()
        super().close()


@contextlib.contextmanager
def routed_output(router: OutputRouter, terminal: Terminal, *, keep_after_stop: bool = False) -> Iterator[None]:
    """sys.stdout and sys.stderr go to `router`, and so do logging handlers already holding the
    original streams (a Powertools Logger keeps the sys.stdout it was created with); the gateway's
    request lines go to `terminal`. Undone on exit; with `keep_after_stop`, only when the block
    raised: a stack stopped in the middle of an import leaves moto's threads failing on their way
    out, and what they print then belongs in the logs too, not on the terminal."""
    saved = sys.stdout, sys.stderr
    handlers = [(handler, handler.stream) for handler in _stream_handlers() if handler.stream in saved]
    requests = logging.getLogger(REQUEST_LOGGER)
    request_lines, request_settings = RequestLines(terminal), (requests.level, requests.propagate)
    sys.stdout = sys.stderr = router
    for handler, _ in handlers:
        handler.setStream(router)
    requests.addHandler(request_lines)
    requests.setLevel(logging.INFO)
    requests.propagate = False
    stopped = False
    try:
        yield
        stopped = True
    finally:
        requests.removeHandler(request_lines)
        requests.level, requests.propagate = request_settings
        if not (stopped and keep_after_stop):
            for handler, stream in handlers:
                handler.setStream(stream)
            sys.stdout, sys.stderr = saved
            router.close()


def _stream_handlers() -> list[logging.StreamHandler]:
    loggers = [
        logging.getLogger(),
        *(logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)),
    ]
    return [
        handler
        for logger in loggers
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]

"""`bulk-import import watch`: a live progress bar fed by the HTTP status API (Personium's)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import requests

BAR_WIDTH = 40


def render(status: dict, elapsed: float) -> str:
    percent = int(status.get("progress", "100%" if status["status"] == "ready" else "0%").rstrip("%"))
    filled = BAR_WIDTH * percent // 100
    name = status.get("importation_name", "")
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}%  {status['status']}  {name}  {elapsed:6.1f}s"


def watch(status_url: str, token: str, interval: float = 1.0, out: TextIO = sys.stderr,
          timeout: float = 24 * 3600) -> dict:
    """Polls GET {cell}/__import until the import is no longer in progress; returns the last status."""
    started = time.monotonic()
    interactive = out.isatty()
    shown = 0  # characters of the line on screen: a shorter line must blank the rest
    while True:
        response = requests.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response.raise_for_status()
        status = response.json()
        line = render(status, time.monotonic() - started)
        out.write(("\r" + line.ljust(shown)) if interactive else (line + "\n"))
        shown = len(line)
        out.flush()
        if status["status"] != "importation in progress" or time.monotonic() - started > timeout:
            if interactive:
                out.write("\n")
            return status
        time.sleep(interval)

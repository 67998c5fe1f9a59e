"""How CLI commands find a running local stack: the state file `bulk-import serve` writes
(.local-stack.json), and whether the stack that wrote it still runs.

Kept apart from the local stack's package (bulk_import_local), which knows nothing of the CLI, so
that commands that only read the file do not import moto.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bulk_import_local.local_stack import LocalStack

#: In the directory `serve` runs in, as SAM keeps its state (.aws-sam) beside the template.
DEFAULT_STATE_FILE = Path(".local-stack.json")
#: How long a probe of the stack's API port waits: it is on this machine.
PROBE_SECONDS = 0.5


def state_file() -> Path:
    """Where a running local stack tells CLI commands how to reach it (tests point it elsewhere)."""
    return Path(os.environ.get("BULK_IMPORT_STATE_FILE", DEFAULT_STATE_FILE))


def log_dir() -> Path:
    """Where `serve` writes what the functions print, one file per function: .local-stack/logs/
    beside .local-stack.json (with BULK_IMPORT_STATE_FILE=x/s.json: x/s/logs/)."""
    path = state_file()
    return path.with_name(path.stem) / "logs"


@dataclass(frozen=True)
class StackInfo:
    """What a CLI command needs to talk to a running local stack (saved in .local-stack.json)."""

    endpoint: str
    api_url: str
    region: str
    parameters: dict[str, str]
    #: The template the stack runs (absolute): what commands that host its functions read.
    template: str = "template.yaml"
    #: The process that runs the stack (the one that builds this: LocalStack runs in-process).
    pid: int | None = field(default_factory=os.getpid)

    @classmethod
    def of(cls, stack: LocalStack) -> StackInfo:
        """What `serve` saves of the local stack it runs."""
        return cls(
            endpoint=stack.endpoint,
            api_url=stack.api_url,
            region=stack.region,
            parameters=stack.template.parameters,
            template=str(stack.template_path),
        )

    def save(self) -> None:
        state_file().write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls) -> StackInfo | None:
        """The state file's content, whether or not its stack still runs (see running())."""
        path = state_file()
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        # A file written before `pid` was saved has none: only its port tells.
        return cls(**{"pid": None, **{name: value for name, value in saved.items() if name in known}})

    @classmethod
    def running(cls) -> StackInfo | None:
        """The local stack of the state file, if it still runs (a terminal closed under it, a kill -9
        or a crash leave the file behind)."""
        info = cls.load()
        return info if info is not None and info.alive() else None

    def alive(self) -> bool:
        """Whether the stack that wrote this still runs: its process exists and its API port accepts
        connections (a pid reused by another process does not listen there)."""
        return (self.pid is None or _process_exists(self.pid)) and _port_open(self.api_url)


def _process_exists(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it: leave it to the port
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def _port_open(url: str) -> bool:
    address = urlsplit(url)
    try:
        with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), PROBE_SECONDS):
            return True
    except OSError:
        return False

"""The stack an end-to-end test talks to, over HTTP and through the `bulk-import` CLI only: a
`bulk-import serve` started here in a process of its own (on free ports), or a deployed stack (its
ApiUrl output). And the files and records the tests import, named for one run, so that a second run
against the same deployed stack finds no user of the first.

Nothing here imports the packages under test (the layer, the local stack): what the tests see of a
stack is what its clients see.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
#: Seconds one HTTP call may take: a deployed stack's cold start included.
HTTP_TIMEOUT = 60
#: Seconds `bulk-import serve` may take to answer (moto, the template's resources, the demo data).
START_TIMEOUT = 90
#: Variables of the developer's shell that would change what the CLI prints or whom it asks.
CLI_ENVIRONMENT_LEFT_OUT = ("BULK_IMPORT_TOKEN", "BULK_IMPORT_API_URL", "BULK_IMPORT_OUTPUT", "AWS_ENDPOINT_URL")


def run_id() -> str:
    """A name for one run of the suite (a cell name's characters: letters, digits, -): its cells and
    users are its own on a stack that earlier runs used."""
    return f"e2e-{time.strftime('%y%m%d%H%M%S')}-{secrets.token_hex(2)}"


def bulk_import_command() -> list[str]:
    """The installed `bulk-import` of this Python (its venv's bin), as a user runs it."""
    script = Path(sys.executable).with_name("bulk-import")
    if script.exists():
        return [str(script)]
    found = shutil.which("bulk-import")
    return [found] if found else [sys.executable, "-m", "bulk_import_cli.main"]


def cli_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name not in CLI_ENVIRONMENT_LEFT_OUT}
    return environment | (extra or {})


# -- the stack ----------------------------------------------------------------------------------------------


@dataclass
class ServedStack:
    """`bulk-import serve --port 0` (what `make run` runs, without its demo import) in `directory`:
    its state file there tells the CLI how to reach it (BULK_IMPORT_STATE_FILE), its logs go to
    `directory`/stack/logs/, and what it prints to `directory`/serve.log."""

    directory: Path
    template: Path = ROOT / "template.yaml"
    api_url: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def state_file(self) -> Path:
        return self.directory / "stack.json"

    @property
    def output(self) -> Path:
        return self.directory / "serve.log"

    @property
    def environment(self) -> dict[str, str]:
        """What a CLI command needs to talk to this stack (as `make run`'s .local-stack.json in the
        repository's root does)."""
        return {"BULK_IMPORT_STATE_FILE": str(self.state_file)}

    def start(self) -> ServedStack:
        self.directory.mkdir(parents=True, exist_ok=True)
        serve = ("serve", "--port", "0", "--demo-users", "0", "--template", str(self.template))
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                [*bulk_import_command(), *serve],
                cwd=self.directory,
                env=cli_environment(self.environment),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.api_url:
            if self.process.poll() is not None:
                raise RuntimeError(f"bulk-import serve exited with {self.process.returncode}:\n{self._printed()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"bulk-import serve did not start in {START_TIMEOUT} s:\n{self._printed()}")
            time.sleep(0.1)
            with contextlib.suppress(FileNotFoundError, ValueError):  # not yet written, or half
                self.api_url = json.loads(self.state_file.read_text())["api_url"]
        return self

    def stop(self) -> None:
        """As Ctrl-C or `kill` stops it: SIGTERM, then (if it hangs) SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def _printed(self) -> str:
        return self.output.read_text(errors="replace")[-4000:]

    def __enter__(self) -> ServedStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def deployed_api_url(stack_name: str) -> str:
    """The deployed stack's ApiUrl output, with the caller's AWS credentials; the region as the CLI
    takes it ($AWS_REGION, else $AWS_DEFAULT_REGION)."""
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    (stack,) = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    return outputs["ApiUrl"]


@dataclass(frozen=True)
class Target:
    """Where the suite runs: the API's URL, and how the CLI reaches the same stack (to issue
    credentials): `--stack-name NAME` for a deployed stack, else the local stack the CLI finds
    (the served one through BULK_IMPORT_STATE_FILE, or `make run`'s in the repository's root)."""

    api_url: str
    cli_options: tuple[str, ...] = ()
    cli_extra_environment: dict[str, str] = field(default_factory=dict)

    def cli(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`bulk-import ARGUMENTS` (the stack's options after them, as the CLI takes global options
        anywhere), run from the repository's root."""
        return subprocess.run(
            [*bulk_import_command(), *arguments, *self.cli_options],
            cwd=ROOT,
            env=cli_environment(self.cli_extra_environment),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *arguments: str) -> Any:
        """The JSON a CLI command prints; fails with what it printed to stderr if it failed."""
        result = self.cli(*arguments)
        assert result.returncode == 0, f"bulk-import {' '.join(arguments)}: exit {result.returncode}\n{result.stderr}"
        return json.loads(result.stdout)


@dataclass(frozen=True)
class Http:
    """One client of the API: its base URL, the headers its dialect authenticates with, a timeout."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **options: Any):
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return requests.request(
            method, url, headers={**self.headers, **(headers or {})}, timeout=HTTP_TIMEOUT, **options
        )

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> requests.Response:
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Any) -> requests.Response:
        return self.request("PUT", path, **options)

    def options(self, path: str, **options: Any) -> requests.Response:
        return self.request("OPTIONS", path, **options)


def wait_for(what: str, answer, seconds: float = 600, interval: float = 0.25):
    """`answer()`'s first truthy value, asked every `interval` seconds; fails naming `what` after
    `seconds` (a deployed stack's imports take tens of seconds, the local stack's a few)."""
    deadline = time.monotonic() + seconds
    while not (value := answer()):
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(interval)
    return value


# -- what the tests import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Users:
    """`count` users named `prefix`-u<n>; those numbered in `invalid` have an email no rule accepts
    (so they fail alone, with their error kept)."""

    prefix: str
    count: int
    invalid: frozenset[int] = frozenset()

    def username(self, number: int) -> str:
        return f"{self.prefix}-u{number}"

    def email(self, number: int) -> str:
        return "not-an-email" if number in self.invalid else f"{self.username(number)}@example.com"

    def rocketchat(self, numbers: range | None = None) -> list[dict]:
        """Rocket.Chat's import.addUsers `users` items."""
        return [
            {"username": self.username(n), "emails": [self.email(n)], "importIds": [f"{self.prefix}-{n}"]}
            for n in (range(self.count) if numbers is None else numbers)
        ]

    def jsonl(self) -> bytes:
        """A JSON Lines file of `"type": "user"` records, one a line."""
        return b"".join(json.dumps({"type": "user", **user}).encode() + b"\n" for user in self.rocketchat())

    def snapshot_zip(self) -> bytes:
        """Rocket.Chat's CSV importer zip: these users, a channel of the first two, one message."""
        users = "".join(f"{self.username(n)},{self.email(n)},User {n}\n" for n in range(self.count))
        first, second = self.username(0), self.username(1)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            zipped.writestr("users.csv", "username,email,name\n" + users)
            zipped.writestr("channels.csv", f"name,creator,private,members\ngeneral,{first},false,{first};{second}\n")
            zipped.writestr("general/messages.csv", f"username,timestamp,text\n{first},1700000000000,Hello\n")
        return archive.getvalue()

"""Load: imports in several cells at once, their status read by many clients in every dialect.

In a local stack (the real template, ASL and handlers on moto, the routes on a local HTTP port):

- one import per cell, all started at once through the /v1 API: an upload of demo_users_zip (`users`
  users in Rocket.Chat's CSV layout, every 20th without an email, one channel and one message), each
  cell with credentials of its own. The first cell is the template's RocketChatCell: the one cell that
  Rocket.Chat's dialect reads;
- `clients` threads, each with its own connection, reading over HTTP without a pause until every
  import has ended, cycling through every import in every dialect that reads its cell: Personium
  GET /{cell}/__import and /v1 GET imports/{id}, and on the Rocket.Chat cell import.status,
  getCurrentImportOperation and getLatestImportOperations.

Every answer is checked: 200, about the import asked for (its id, cell and name, as far as the dialect
shows them), completed + error ≤ total, and nothing behind what the same client read of the same import
before, in any dialect: percent, completed and error never lower, an ended import never active again.
A 5xx and a wrong answer (any other status, a failed check, or no answer at all) are counted apart:
goal 0 for both.
Then each import's final counts are checked exactly: done, completed + error = total = the records
uploaded, error = the users without an email, completed = the entries the import created in its
cell's directory (by a scan of the table).

Run: .venv/bin/python bench/load.py [--cells 4] [--users 3000] [--clients 16]
(`make bench` prints these rows with the other benchmarks' through bench/run.py; run() is the scenario
on a given stack, which tests/local/test_load.py runs small.)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import os
import statistics
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import requests  # noqa: E402
from table import Figure, Row, print_table  # noqa: E402

from bulk_import.domain.credentials import ApiPermission, Permission  # noqa: E402
from bulk_import.domain.operation import ACTIVE_STEPS, Counts, PersoniumStatus, ProgressStep  # noqa: E402
from bulk_import.logic.admin import create_api_credential, create_cell_token, create_rocketchat_credential  # noqa: E402
from bulk_import_cli.demo import demo_users_zip  # noqa: E402
from bulk_import_local.local_stack import SERVE_KEEP_CALLS, LocalStack  # noqa: E402

#: Seconds an HTTP request may take before its client gives up on it.
REQUEST_TIMEOUT = 30
#: How often the end of the imports is checked (in the table, not over HTTP: not a read counted).
END_CHECK_SECONDS = 0.2
#: The Rocket.Chat user whose credential reads that dialect.
ROCKETCHAT_USER = "load-reader"


class WrongAnswer(Exception):
    """An answer that is not about the import asked for, or that contradicts an earlier one."""


@dataclass(frozen=True)
class CellImport:
    """One cell's import, and the headers of the credentials that read it in each dialect."""

    cell: str
    id: str
    name: str
    api: dict[str, str]
    personium: dict[str, str]
    #: On the Rocket.Chat cell only.
    rocketchat: dict[str, str] | None


@dataclass(frozen=True)
class Reading:
    """What one answer says of an import's progress; None where its dialect does not say."""

    percent: int
    ended: bool
    completed: int | None = None
    error: int | None = None

    def after(self, earlier: Reading | None) -> Reading:
        """The furthest the client has now seen the import get; WrongAnswer if this answer is behind
        what it read before."""
        if earlier is None:
            return self
        behind = [
            name
            for name, before, now in (
                ("percent", earlier.percent, self.percent),
                ("completed", earlier.completed, self.completed),
                ("error", earlier.error, self.error),
            )
            if before is not None and now is not None and now < before
        ]
        if earlier.ended and not self.ended:
            behind.append("ended")
        if behind:
            raise WrongAnswer(f"{', '.join(behind)} went back")
        return Reading(
            self.percent,
            self.ended,
            earlier.completed if self.completed is None else self.completed,
            earlier.error if self.error is None else self.error,
        )


def _about(view: dict[str, Any], **asked: str) -> None:
    for name, value in asked.items():
        if view.get(name) != value:
            raise WrongAnswer(f"{name} is not the one asked for")


def _counted(step: str, count: dict[str, int]) -> Reading:
    """A reading of an operation's step and counts, as /v1 and Rocket.Chat show them."""
    progress = ProgressStep(step)
    if progress not in ACTIVE_STEPS and progress is not ProgressStep.DONE:
        raise WrongAnswer(f"step {progress.value}")  # these imports only run to done
    counts = Counts(**count)
    if counts.processed > counts.total:
        raise WrongAnswer("completed + error > total")
    return Reading(counts.percent, progress not in ACTIVE_STEPS, counts.completed, counts.error)


def personium_reading(body: dict[str, Any], target: CellImport) -> Reading:
    if body["status"] == PersoniumStatus.READY:  # the cell's import has ended (only to done, here)
        return Reading(100, ended=True)
    if body["status"] != PersoniumStatus.IN_PROGRESS:
        raise WrongAnswer(f"status {body['status']!r}")
    _about(body, importation_name=target.name)
    return Reading(int(body["progress"].removesuffix("%")), ended=False)


def native_reading(body: dict[str, Any], target: CellImport) -> Reading:
    _about(body, id=target.id, cell=target.cell, name=target.name)
    return _counted(body["step"], body["counts"])


def rocketchat_reading(operation: dict[str, Any], target: CellImport) -> Reading:
    _about(operation, _id=target.id, file=target.name)
    return _counted(operation["status"], operation["count"])


def rocketchat_current_reading(body: dict[str, Any], target: CellImport) -> Reading:
    """import.status and getCurrentImportOperation: the cell's newest operation."""
    return rocketchat_reading(body["operation"], target)


def rocketchat_latest_reading(body: list[dict[str, Any]], target: CellImport) -> Reading:
    """getLatestImportOperations: the cell's operations, newest first."""
    return rocketchat_reading(body[0], target)


@dataclass(frozen=True)
class Read:
    """One route's read of one import's status, and how its answer's body becomes a reading."""

    target: CellImport
    route: str
    path: str
    headers: dict[str, str]
    reading: Callable[[Any, CellImport], Reading]


def reads_of(target: CellImport) -> list[Read]:
    """Every read of `target`'s status: each route of each dialect that reads its cell."""
    routes = [
        ("Personium GET /{cell}/__import", f"/{target.cell}/__import", target.personium, personium_reading),
        ("/v1 GET imports/{id}", f"/v1/cells/{target.cell}/imports/{target.id}", target.api, native_reading),
    ]
    if target.rocketchat is not None:
        routes += [
            (f"Rocket.Chat GET {name}", f"/api/v1/{name}", target.rocketchat, reading)
            for name, reading in (
                ("import.status", rocketchat_current_reading),
                ("getCurrentImportOperation", rocketchat_current_reading),
                ("getLatestImportOperations", rocketchat_latest_reading),
            )
        ]
    return [Read(target, *route) for route in routes]


@dataclass
class Tally:
    """What one client's reads got, or all clients' together (merge)."""

    #: Seconds of each answered read.
    latencies: list[float] = field(default_factory=list)
    #: By route and status.
    server_errors: Counter = field(default_factory=Counter)
    #: By route and what was wrong.
    wrong: Counter = field(default_factory=Counter)

    def merge(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.server_errors += other.server_errors
        self.wrong += other.wrong


def client(api_url: str, reads: list[Read], ended: threading.Event) -> Tally:
    """Makes `reads` over and over, one at a time, until `ended`, checking every answer."""
    tally, seen = Tally(), {}
    with requests.Session() as session:
        for read in itertools.cycle(reads):
            if ended.is_set():
                return tally
            started = time.perf_counter()
            try:
                response = session.get(api_url + read.path, headers=read.headers, timeout=REQUEST_TIMEOUT)
            except requests.RequestException as exc:
                tally.wrong[f"{read.route}: no answer ({type(exc).__name__})"] += 1
                continue
            tally.latencies.append(time.perf_counter() - started)
            if response.status_code >= 500:
                tally.server_errors[f"{read.route}: {response.status_code}"] += 1
                continue
            try:
                if response.status_code != 200:
                    raise WrongAnswer(f"{response.status_code} {response.text[:120]}")
                seen[read.target.id] = read.reading(response.json(), read.target).after(seen.get(read.target.id))
            except WrongAnswer as wrong:
                tally.wrong[f"{read.route}: {wrong}"] += 1
            except (KeyError, IndexError, TypeError, ValueError) as exc:  # not the body the route answers
                tally.wrong[f"{read.route}: unexpected body ({type(exc).__name__}: {exc})"] += 1
    return tally


@dataclass(frozen=True)
class FinalCounts:
    """An ended import as /v1 reads it, against what it was given and what it left in the directory."""

    cell: str
    step: str
    completed: int
    error: int
    total: int
    #: Data rows of the uploaded CSVs, and of them the users without an email.
    records: int
    invalid: int
    #: The entries in the cell's directory that the import created.
    entries: int

    @property
    def problems(self) -> list[str]:
        checks = [
            (self.step == ProgressStep.DONE, f"step {self.step}"),
            (
                self.completed + self.error == self.total,
                f"completed + error {self.completed + self.error:,} ≠ total {self.total:,}",
            ),
            (self.total == self.records, f"total {self.total:,} ≠ {self.records:,} records uploaded"),
            (self.completed == self.entries, f"completed {self.completed:,} ≠ {self.entries:,} entries created"),
            (self.error == self.invalid, f"error {self.error:,} ≠ {self.invalid:,} invalid records"),
        ]
        return [problem for holds, problem in checks if not holds]

    def describe(self) -> str:
        return "; ".join(self.problems) or (
            f"done: completed {self.completed:,} = entries created, error {self.error:,} = invalid records, "
            f"completed + error = total {self.total:,} = records uploaded"
        )


@dataclass
class LoadResult:
    cells: int
    users: int
    clients: int
    #: From the first read to the end of the last import.
    seconds: float
    reads: Tally
    finals: list[FinalCounts]


def uploaded_records(archive: bytes) -> tuple[int, int]:
    """(records, invalid) of a demo_users_zip: the data rows of its CSVs, and the users without an email."""
    records = invalid = 0
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        for name in zipped.namelist():
            rows = list(csv.DictReader(io.TextIOWrapper(zipped.open(name), encoding="utf-8")))
            records += len(rows)
            if name == "users.csv":
                invalid += sum(not row["email"] for row in rows)
    return records, invalid


def start_import(api_url: str, cell: str, headers: dict[str, str], archive: bytes, name: str) -> str:
    """Uploads `archive` to `cell` and starts its import through /v1: the import's id."""
    base = f"{api_url}/v1/cells/{cell}"
    upload = _answered(
        200,
        requests.post(
            f"{base}/uploads",
            json={"filename": "users.zip", "size": len(archive)},
            headers=headers,
            timeout=REQUEST_TIMEOUT,
        ),
    )
    _answered(200, requests.put(upload["url"], data=archive, timeout=REQUEST_TIMEOUT))
    started = requests.post(
        f"{base}/imports", json={"uploadId": upload["uploadId"], "name": name}, headers=headers, timeout=REQUEST_TIMEOUT
    )
    return _answered(202, started)["id"]


def _answered(status: int, response: requests.Response) -> Any:
    """The answer's JSON body (None if it has none); RuntimeError, with what it says, unless its status is `status`."""
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
    return response.json() if response.content and "json" in response.headers.get("Content-Type", "") else None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def directory_entries(stack: LocalStack, cells: list[str]) -> Counter:
    """Entries in the directory by cell and the import that created them (their importedFrom)."""
    entries: Counter = Counter()
    for cell in cells:
        for entry in stack.store.directory_entries(cell, stack.directory_keys(cell)).values():
            entries[(cell, entry.reference.partition("#")[0])] += 1  # <operation>#<type>#<seq>
    return entries


def run(stack: LocalStack, cells: int, users: int, clients: int, deadline_seconds: float) -> LoadResult:
    """The scenario on a started local stack: `cells` imports of `users` users at once, read by `clients`
    threads until they have all ended (TimeoutError after `deadline_seconds`)."""
    store = stack.store
    rocketchat_cell = stack.template.parameters["RocketChatCell"]
    names = [rocketchat_cell, *(f"load{number}" for number in range(1, cells))]
    rocketchat_token = create_rocketchat_credential(
        store, rocketchat_cell, ROCKETCHAT_USER, [Permission.RUN_IMPORT, Permission.VIEW_IMPORT_OPERATIONS]
    ).authToken
    rocketchat = {"X-User-Id": ROCKETCHAT_USER, "X-Auth-Token": rocketchat_token}
    archive = demo_users_zip(users)
    records, invalid = uploaded_records(archive)

    def start(cell: str) -> CellImport:
        api = _bearer(create_api_credential(store, cell, list(ApiPermission), name="load").token)
        personium = _bearer(create_cell_token(store, cell, root=True).access_token)
        name = f"load-{cell}"
        operation_id = start_import(stack.api_url, cell, api, archive, name)
        return CellImport(cell, operation_id, name, api, personium, rocketchat if cell == rocketchat_cell else None)

    with ThreadPoolExecutor(cells) as pool:
        targets = list(pool.map(start, names))
    reads = [read for target in targets for read in reads_of(target)]
    ended = threading.Event()
    with ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        # Each client starts at another read, so that they do not all ask the same route at once.
        tallies = [
            pool.submit(client, stack.api_url, reads[number % len(reads) :] + reads[: number % len(reads)], ended)
            for number in range(clients)
        ]
        try:
            while any(store.operation(target.cell, target.id).is_active for target in targets):
                if time.perf_counter() - started > deadline_seconds:
                    raise TimeoutError(f"the imports did not end in {deadline_seconds:.0f} s")
                time.sleep(END_CHECK_SECONDS)
        finally:
            ended.set()
        seconds = time.perf_counter() - started
        tally = Tally()
        for future in tallies:
            tally.merge(future.result())

    entries = directory_entries(stack, [target.cell for target in targets])
    finals = []
    for target in targets:
        view = _answered(
            200,
            requests.get(
                f"{stack.api_url}/v1/cells/{target.cell}/imports/{target.id}",
                headers=target.api,
                timeout=REQUEST_TIMEOUT,
            ),
        )
        counts = view["counts"]
        finals.append(
            FinalCounts(
                target.cell,
                view["step"],
                counts["completed"],
                counts["error"],
                counts["total"],
                records,
                invalid,
                entries[(target.cell, target.id)],
            )
        )
    return LoadResult(cells, users, clients, seconds, tally, finals)


def _reasons(counted: Counter) -> str:
    return "; ".join(f"{number:,}× {reason}" for reason, number in counted.most_common(3)) or "none"


def result_rows(result: LoadResult) -> list[Row]:
    """The table rows of one run (table.py): reads and their latency, shown; 5xx and wrong answers,
    goal 0; each import's final counts, goal: no count off."""
    latencies_ms = [seconds * 1000 for seconds in result.reads.latencies]
    answered = len(latencies_ms)
    scenario = f"{result.cells} imports of {result.users:,} users × {result.clients} clients"
    rows = [
        Row(
            f"load: status reads, {scenario}",
            f"{answered / result.seconds:.0f} reads/s over {result.seconds:.0f} s, three dialects over HTTP "
            f"(Rocket.Chat's on its one cell)",
            {"load": Figure(answered, unit=" reads", places=0)},
        ),
        Row(
            "load: read latency p50",
            "each read's round trip, every route",
            {"load": Figure(statistics.median(latencies_ms), unit=" ms", places=1)},
        ),
        Row(
            "load: read latency p99",
            "each read's round trip, every route",
            {"load": Figure(statistics.quantiles(latencies_ms, n=100)[98], unit=" ms", places=1)},
        ),
        Row(
            "load: 5xx answers",
            _reasons(result.reads.server_errors),
            {"load": Figure(sum(result.reads.server_errors.values()), 0, "", places=0)},
        ),
        Row(
            "load: wrong answers",
            _reasons(result.reads.wrong),
            {"load": Figure(sum(result.reads.wrong.values()), 0, "", places=0)},
        ),
    ]
    rows += [
        Row(
            f"load: final counts, cell {final.cell}",
            final.describe(),
            {"load": Figure(len(final.problems), 0, " off", places=0)},
        )
        for final in result.finals
    ]
    return rows


def rows(cells: int = 4, users: int = 3000, clients: int = 16, deadline_seconds: float = 1800) -> list[Row]:
    """bench/run.py's rows: the scenario in a fresh local stack, as `bulk-import serve` runs it."""
    # What the functions print (a JSON line per batch) goes where `serve` sends it: not to the table.
    # stderr stays: the gateway prints there the traceback of a function that raised (a 502 counted).
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        LocalStack(api_port=0, keep_calls=SERVE_KEEP_CALLS) as stack,
    ):
        return result_rows(run(stack, cells, users, clients, deadline_seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=4, help="imports at once, one per cell")
    parser.add_argument("--users", type=int, default=3000, help="users in each import")
    parser.add_argument("--clients", type=int, default=16, help="threads reading the status")
    args = parser.parse_args()
    print_table(rows(args.cells, args.users, args.clients))


if __name__ == "__main__":
    main()

"""Benchmark of a Slack workspace export imported through the local stack (the real template, ASL and
handlers on moto), as Rocket.Chat's administration page runs it: the file stored and prepared
(uploadImportFile), everything selected (startImport), imported until done.

The export (tests/support/slack_exports.py's busy workspace: channels, a private group, group and
direct messages, threads, edits, reactions, files, joins, bot messages, mentions) has about
`messages` messages. Measured:

- **wall time**, from the upload to done, as a ratio to the time the same process then takes to
  write the entries the import created into moto directly: one conditional PutItem each, by
  import_run.DIRECT_THREADS threads. Goal ≤ 2×, as for users.
- **peak RSS** of the whole process after the import. Goal ≤ 300 MB at 100,000 messages.

Run: .venv/bin/python bench/slack_import.py [--messages 10000] [--where]
(--where: also where moto holds the import's data at its end: the table's bytes per item, part by
part, and the S3 bodies in memory and in temporary files; local/bulk_import_local/moto_footprint.py)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import sys
import time
import types
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from import_run import DIRECT_THREADS, GOALS, Progress, peak_rss_mb  # noqa: E402
from table import Figure, Row  # noqa: E402

#: The busy workspace's rooms besides its channels: a private group, two group DMs, a DM.
OTHER_ROOMS = 4
#: Days of messages per room, and messages a day's `per_day` writes (a thread adds two replies to
#: every tenth).
DAYS, MESSAGES_PER_ENTRY = 20, 1.2
CHANNELS = 46


def export_of(messages: int) -> tuple[bytes, int]:
    """A busy workspace's export of about `messages` messages: (the zip, its exact message count)."""
    from tests.support.slack_exports import workspace_export

    per_day = max(10, round(messages / ((CHANNELS + OTHER_ROOMS) * DAYS * MESSAGES_PER_ENTRY)))
    export = workspace_export(channels=CHANNELS, days=DAYS, per_day=per_day)
    return export.zip(), sum(len(day) for day in export.days.values())


def run(messages: int, *, progress: bool = True, where: bool = False) -> dict[str, Any]:
    """One import of an export of about `messages` messages in a fresh local stack, then the direct
    writes of its entries in the same process."""
    from bulk_import.dal.s3 import default_files
    from bulk_import.dal.stepfunctions import default_executions
    from bulk_import.domain.importers import IMPORTERS
    from bulk_import.domain.operation import ProgressStep
    from bulk_import.logic.imports.rocketchat_files import start_selected_import, upload_import_file
    from bulk_import_local.local_stack import SERVE_KEEP_CALLS, LocalStack

    content, exact = export_of(messages)
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        contextlib.redirect_stderr(devnull),
        LocalStack(api_port=0, keep_calls=SERVE_KEEP_CALLS) as stack,
    ):
        store, files, executions = stack.store, default_files(), default_executions()
        cell = f"slack{messages}"
        started = time.perf_counter()
        shown = Progress(started, progress)
        upload_import_file(store, files, executions, cell, "bench", IMPORTERS["slack"], "export.zip", content)
        selected = False
        while (operation := store.latest_operation(cell)).is_active or not selected:
            if operation.step == ProgressStep.USER_SELECTION and not selected:
                start_selected_import(
                    store, files, executions, operation, {"users": {"all": True}, "channels": {"all": True}}
                )
                selected = True
            time.sleep(0.5)
            shown.show(operation)
        seconds = time.perf_counter() - started
        peak = peak_rss_mb()
        held = held_by_moto(store.table_name) if where else None
        writes, direct_seconds = direct_writes(store, content)
    return {
        "messages": exact,
        "zip_bytes": len(content),
        "seconds": seconds,
        "peak_rss_mb": peak,
        "operation": operation,
        "direct_writes": writes,
        "direct_seconds": direct_seconds,
        "held": held,
    }


def _size(root: Any, seen: set[int]) -> int:
    """sys.getsizeof of `root` and of every object it reaches (classes, modules and functions
    aside), each object counted once over the calls that share `seen`."""
    total, pending = 0, [root]
    while pending:
        thing = pending.pop()
        if id(thing) in seen or isinstance(thing, (type, types.ModuleType, types.FunctionType)):
            continue
        seen.add(id(thing))
        total += sys.getsizeof(thing)
        pending.extend(gc.get_referents(thing))
    return total


def held_by_moto(table_name: str) -> dict[str, Any]:
    """Where moto holds the import's data: the table's bytes by part (its dict of partitions, each
    partition, each item's keys, each item and what it holds), and the bucket's bodies by where
    they are kept."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    from bulk_import_local.sam_template import ACCOUNT, REGION

    partitions = dynamodb_backends[ACCOUNT][REGION].get_table(table_name).items
    seen: set[int] = set()
    parts: Counter[str] = Counter({"dict of partitions": sys.getsizeof(partitions)})
    items = 0
    for partition_key, partition in list(partitions.items()):
        parts["partition keys"] += _size(partition_key, seen)
        parts["partitions"] += sys.getsizeof(partition) + (
            sys.getsizeof(partition._more) if getattr(partition, "_more", None) else 0
        )
        for sort_key, item in list(partition.items()):
            items += 1
            parts["sort keys"] += _size(sort_key, seen)
            parts["items and their attributes"] += _size(item, seen)
    bodies: Counter[str] = Counter()
    for bucket in s3_backends[ACCOUNT]["aws"].buckets.values():
        for key in list(bucket.keys.values()):
            bodies["in temporary files" if key._value_buffer._rolled else "in memory"] += key.size
    return {"items": items, "table": dict(parts), "bodies": dict(bodies)}


def print_held(held: dict[str, Any]) -> None:
    items = held["items"]
    print(f"moto's table, {items:,} items: {sum(held['table'].values()) / 1e6:.1f} MB")
    for part, size in sorted(held["table"].items(), key=lambda part: -part[1]):
        print(f"  {part:30} {size / 1e6:6.1f} MB  {size / max(items, 1):5.0f} bytes an item")
    for where, size in held["bodies"].items():
        print(f"S3 bodies {where}: {size / 1e6:.1f} MB")


def direct_writes(store: Any, content: bytes) -> tuple[int, float]:
    """Writes an entry for each record the import could create, into another cell, one conditional
    PutItem each: (writes, seconds). The records are read before the clock starts."""
    from bulk_import.dal.dynamodb.directory_items import DirectoryEntry
    from bulk_import.dal.dynamodb.table import marshal
    from bulk_import.domain.records.schema import RecordInvalid, parse_record
    from bulk_import.readers.by_format import read_records

    entries = []
    for n, record in enumerate(read_records(lambda: io.BytesIO(content))):
        if record.problem is not None:
            continue
        try:
            parsed = parse_record(record.type, record.data, emails_required=False)
        except RecordInvalid:
            continue
        name = getattr(parsed, "username", None) if record.type == "user" else getattr(parsed, "name", None)
        identity = (name or f"{getattr(parsed, 'channel', '')}#direct:{n}").lower()
        entries.append(DirectoryEntry(record.type, identity, parsed.model_dump(mode="json", exclude_none=True), "d"))

    def put(entry: DirectoryEntry) -> None:
        store.client.put_item(
            TableName=store.table_name,
            Item=marshal(entry.item("direct")),
            ConditionExpression="attribute_not_exists(PK)",
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(DIRECT_THREADS) as pool:
        list(pool.map(put, entries))
    return len(entries), time.perf_counter() - started


def result_rows(result: dict[str, Any]) -> list[Row]:
    messages = f"{result['messages']:,} Slack messages"
    count = result["operation"].count
    return [
        Row(
            f"Slack import wall, {messages}",
            f"{result['seconds']:.0f} s from upload to done ({count.completed:,} of {count.total:,} records "
            f"imported, {count.error:,} failed as Rocket.Chat fails them; a {result['zip_bytes'] / 1e6:.1f} MB zip) "
            f"against {result['direct_seconds']:.0f} s for {result['direct_writes']:,} direct conditional PutItems "
            f"({DIRECT_THREADS} threads)",
            {"import": Figure(result["seconds"] / result["direct_seconds"], GOALS["wall"], "× direct")},
        ),
        Row(
            f"Slack import peak RSS, {messages}",
            "the whole local stack process (moto + every handler)",
            {
                "import": Figure(
                    result["peak_rss_mb"], GOALS["rss_mb"] if result["messages"] >= 100_000 else None, " MB", places=0
                )
            },
        ),
    ]


def rows(messages: int = 100_000) -> list[Row]:
    """bench/run.py's rows: one import of an export of about `messages` messages."""
    return result_rows(run(messages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--where", action="store_true", help="also where moto holds the import's data")
    args = parser.parse_args()
    from table import print_table

    result = run(args.messages, where=args.where)
    operation = result["operation"]
    print(f"step {operation.step.value}, counts {operation.count}")
    if result["held"] is not None:
        print_held(result["held"])
    print_table(result_rows(result))


if __name__ == "__main__":
    main()

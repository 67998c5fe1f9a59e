"""`make bench`: the figures of every benchmark in one table, each next to its goal (table.py).

A benchmark joins the table with a function that measures and returns its table.Row objects,
listed in BENCHMARKS; the rows are printed in that order. Each runs in a fresh process of its own:
what one loads and caches stays out of the next one's figures (the import's peak RSS is that of a
process that ran nothing else, as `bulk-import serve` is).
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import import_run  # noqa: E402
import load  # noqa: E402
import presign  # noqa: E402
import slack_import  # noqa: E402
import status_read  # noqa: E402
from table import print_table  # noqa: E402

#: The routes' cold and warm figures, what presigning a multipart upload's part URLs costs a cold
#: start, then one import of 100,000 users (cost, memory, wall time), one of a Slack export of 100,000
#: messages (memory, wall time), then imports in four cells at once with their status read by 16
#: clients (5xx, wrong answers, final counts).
BENCHMARKS = [status_read.rows, presign.rows, import_run.rows, slack_import.rows, load.rows]


def main() -> None:
    rows = []
    try:
        for benchmark in BENCHMARKS:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as process:
                rows += process.submit(benchmark).result()
    finally:  # a benchmark that fails does not take the figures of those before it with it
        print_table(rows)


if __name__ == "__main__":
    main()

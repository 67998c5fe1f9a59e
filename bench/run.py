"""`make bench`: the figures of every benchmark in one table, each next to its goal (table.py).

A benchmark joins the table with a function that measures and returns its table.Row objects,
listed in BENCHMARKS; the rows are printed in that order.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import import_run  # noqa: E402
import status_read  # noqa: E402
from table import print_table  # noqa: E402

#: The routes' cold and warm figures, then one import of 100,000 users (cost, memory, wall time).
BENCHMARKS = [status_read.rows, import_run.rows]


def main() -> None:
    rows = []
    try:
        for benchmark in BENCHMARKS:
            rows += benchmark()
    finally:  # a benchmark that fails does not take the figures of those before it with it
        print_table(rows)


if __name__ == "__main__":
    main()

"""`make bench`: the figures of every benchmark in one table, each next to its goal (table.py).

A benchmark joins the table with a function that measures and returns its table.Row objects,
listed in BENCHMARKS; the rows are printed in that order.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import status_read  # noqa: E402
from table import print_table  # noqa: E402

BENCHMARKS = [status_read.rows]


def main() -> None:
    print_table(row for benchmark in BENCHMARKS for row in benchmark())


if __name__ == "__main__":
    main()

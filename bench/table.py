"""The one table `make bench` prints: every figure next to its goal, and whether it meets it.

A bench module returns Rows (see bench/run.py); print_table() prints the rows of all of them
together. A row has a name, a detail (how it was measured: the requests made, the baseline) and
figures by column heading, so that rows of one kind line up: the API routes fill "cold" and
"warm", a cost row might fill "$ per M users". Each column heading appears once, in the order
rows first use it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Figure:
    value: float
    #: The value passes at or under its goal (at or over it with at_least); None: no goal, shown only.
    goal: float | None = None
    #: After the value: "×" for a ratio to the row's baseline, " $", " ms", " users/s", ...
    unit: str = "×"
    at_least: bool = False
    #: Decimal places shown.
    places: int = 2

    @property
    def passes(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    def __str__(self) -> str:
        shown = f"{self.value:.{self.places}f}{self.unit}"
        if self.goal is None:
            return shown
        return f"{shown} ({'≥' if self.at_least else '≤'} {self.goal:g}{self.unit})"


@dataclass(frozen=True)
class Row:
    name: str
    detail: str = ""
    figures: dict[str, Figure | None] = field(default_factory=dict)

    @property
    def result(self) -> str:
        """pass when every figure with a goal meets it; FAIL and the failing columns otherwise."""
        failing = [column for column, figure in self.figures.items() if figure and figure.passes is False]
        if failing:
            return "FAIL: " + ", ".join(failing)
        return "pass" if any(figure and figure.goal is not None for figure in self.figures.values()) else ""


def print_table(rows: Iterable[Row], file: TextIO = sys.stdout) -> None:
    rows = list(rows)
    columns = list(dict.fromkeys(column for row in rows for column in row.figures))
    # The detail comes last: it is the longest, and the figures line up better before it.
    header = ["", *columns, "result", ""]
    lines = [
        [row.name, *(str(row.figures.get(column) or "") for column in columns), row.result, row.detail] for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    for line in [header, *lines]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=file)
    judged = [row for row in rows if row.result]
    failed = sum(row.result.startswith("FAIL") for row in judged)
    print(f"{len(judged) - failed} of {len(judged)} rows meet their goals", file=file)

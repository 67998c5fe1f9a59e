"""The status reads' cold start with each kind of botocore data the layer could ship (a benchmark: it
asserts nothing).

The layer's clients read bulk_import/dal/botocore_data/ before botocore's own data
(bulk_import_local/botocore_data.py). Three layers, each in a Lambda site of its own, the rest alike:

- trimmed: each used service's model with only the operations OPERATIONS lists, endpoints.json with
  only the used services (what the layer ships);
- whole models: each used service's every operation (no documentation), endpoints.json trimmed: it
  cannot hide an operation from a library;
- botocore's models: endpoints.json trimmed, the models botocore's own.

For every status read (the routes clients poll, whose cold budget is the leanest:
docs/decisions/0002-cold-start-budget.md), the cold ratio of bench/status_read.py: a fresh
interpreter that imports the handler and handles the event, against a bare boto3 function's, in
pairs back to back.

Run: .venv/bin/python bench/botocore_data.py [--cold 9] [--requests 30]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

import status_read  # noqa: E402
from table import Figure, Row, print_table  # noqa: E402

from bulk_import_local import botocore_data  # noqa: E402

ROUTES = [route for route in status_read.ROUTES if route.polled]
LAYERS: dict[str, botocore_data.Models] = {"trimmed": "trimmed", "whole models": "whole", "botocore's models": "none"}


def site_with(site: Path, directory: Path, models: botocore_data.Models) -> Path:
    """A copy of the Lambda site `site` whose layer package holds the botocore data `models` gives."""
    directory.mkdir()
    for entry in site.iterdir():
        if entry.name != "bulk_import":
            (directory / entry.name).symlink_to(entry.resolve())
    package = directory / "bulk_import"
    layer = status_read.ROOT / "layers/bulk_import/bulk_import"
    shutil.copytree(layer, package, ignore=shutil.ignore_patterns("__pycache__", "botocore_data"))
    botocore_data.write(package / "dal/botocore_data", botocore_data.generate(models=models))
    return directory


def rows(cold: int = 9, requests: int = 30) -> list[Row]:
    table = []
    with status_read.prepared(requests) as (bench, scratch):
        shipped = dict(bench.cold_env)
        sites = {
            name: site_with(scratch / "site", scratch / f"site-{models}", models) for name, models in LAYERS.items()
        }
        for route in ROUTES:
            for name, site in sites.items():
                bench.cold_env = shipped | {"PYTHONPATH": str(site)}
                measured = bench.row(route, requests, cold)
                figure = measured.figures["cold (× floor)"]
                assert figure is not None
                table.append(
                    Row(
                        f"{route.name}, {name}",
                        measured.detail,
                        {"cold (× floor)": Figure(figure.value, route.cold_goal)},
                    )
                )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=9, help="cold pairs per route and layer")
    parser.add_argument("--requests", type=int, default=30, help="warm pairs per route (for its requests' wait)")
    args = parser.parse_args()
    print_table(rows(args.cold, args.requests))


if __name__ == "__main__":
    main()

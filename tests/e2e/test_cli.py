"""`bulk-import imports` against the stack's API, as an operator runs it: start a file, watch it to
the end, its errors, the history; and without a token, a credential it issues itself in the stack's
table (the local stack here, or --stack-name's)."""

from __future__ import annotations

import json

from tests.support.e2e import Users


def test_the_cli_imports_a_file_and_reports_it(target, api_url, credentials, cells, run, tmp_path):
    cell = cells.native  # /v1's cell: its imports and those of test_native.py follow each other
    users = Users(f"{run}-cli", 120, invalid=frozenset({10, 60}))
    file = tmp_path / "people.jsonl"
    file.write_bytes(users.jsonl())
    api = ("--cell", cell, "--api-url", api_url, "--token", credentials["api", cell]["token"], "--json")

    started = target.cli_json("imports", "start", str(file), *api, "--name", "from-the-cli")
    assert started["name"] == "from-the-cli" and started["cell"] == cell

    watched = target.cli("imports", "watch", started["id"], *api, "--interval", "0.25")
    assert watched.returncode == 0, watched.stderr  # 0: it ended done
    final = json.loads(watched.stdout)
    counts = final["counts"]
    assert final["id"] == started["id"] and final["state"] == "done"
    assert counts["completed"] + counts["error"] == counts["total"] == 120 and counts["error"] == 2

    errors = target.cli_json("imports", "errors", *api)  # the cell's latest import
    assert [(e["record"], e["source"]) for e in errors["items"]] == [
        ("user:10", "people.jsonl:11"),
        ("user:60", "people.jsonl:61"),
    ]
    shown = target.cli_json("imports", "show", "--cell", cell, "--json")  # no token: it issues one
    assert shown["id"] == started["id"] and shown["counts"] == counts

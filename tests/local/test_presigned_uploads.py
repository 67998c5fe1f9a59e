"""A file declared over 5 GiB goes up in parts through the presigned URLs the API hands out, as a
client sends them (plain HTTP PUTs to the local stack's S3, no SDK), then is completed and imported."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.native_client import native_client
from tests.support.waiting import TIMEOUT, wait_until

CELL = "presigned"
#: S3 refuses to complete an upload with a part under 5 MiB but the last.
MIN_PART = 5 * 1024 * 1024


@pytest.fixture
def api(local_stack):
    return native_client(local_stack, CELL)


def users(numbers: range) -> bytes:
    lines = [{"type": "user", "username": f"pp{n}", "emails": [f"pp{n}@example.com"]} for n in numbers]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_parts_put_through_their_urls_are_completed_and_imported(api):
    created = api("POST", "/uploads", json={"filename": "parts.jsonl", "size": 6 * 1024**3})
    assert created.status_code == 200, created.text
    upload = created.json()
    assert [part["partNumber"] for part in upload["parts"]] == list(range(1, 33))  # 192 MiB parts
    # Part 1 is padded to S3's smallest part with blank lines, which the reader skips.
    first = users(range(30)) + (b" " * 65_535 + b"\n") * (MIN_PART // 65_536 + 1)
    etags = []
    for part, body in zip(upload["parts"], [first, users(range(30, 45))], strict=False):
        answer = requests.put(part["url"], data=body, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        etags.append(answer.headers["ETag"])

    completed = api("POST", f"/uploads/{upload['uploadId']}/complete", json={"etags": etags})
    assert completed.json() == {"uploadId": upload["uploadId"], "filename": "parts.jsonl"}
    started = api("POST", "/imports", json={"uploadId": upload["uploadId"]})
    assert started.status_code == 202, started.text
    done = wait_until(
        lambda: (
            (view := api("GET", f"/imports/{started.json()['id']}").json())["state"] not in ("loading", "importing")
            and view
        )
    )
    assert done["state"] == "done"
    assert (done["counts"]["total"], done["counts"]["completed"], done["counts"]["error"]) == (45, 45, 0)

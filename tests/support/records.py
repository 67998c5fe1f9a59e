"""Input records as the tests write them: Rocket.Chat users, one by one, in JSON Lines, zipped."""

from __future__ import annotations

import io
import json
import zipfile


def user(number: int, **changes) -> dict:
    return {
        "username": f"user{number}",
        "emails": [f"user{number}@example.com"],
        "importIds": [f"id{number}"],
        "name": f"User {number}",
    } | changes


def users(count: int, invalid: set[int] = frozenset()) -> list[dict]:
    """Inline user records user0..; those numbered in `invalid` have no email."""
    return [{"type": "user", **(user(n) | ({"emails": []} if n in invalid else {}))} for n in range(count)]


def users_jsonl(count: int, invalid_every: int = 0) -> bytes:
    lines = []
    for number in range(count):
        record = {"type": "user", **user(number)}
        if invalid_every and number % invalid_every == 0:
            record["emails"] = ["not-an-email"]
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()

"""Slack's member list export (a users CSV), built in memory as Slack writes it."""

from __future__ import annotations

import csv
import io

SLACK_USERS_HEADER = [
    "username",
    "email",
    "status",
    "billing-active",
    "has-2fa",
    "has-sso",
    "userid",
    "fullname",
    "displayname",
    "expiration-timestamp",
]


def users_csv(rows: list[list[str]], header: bool = True, newline: str = "\n") -> bytes:
    """Slack's member list CSV (its header first unless told otherwise)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    if header:
        writer.writerow(SLACK_USERS_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def csv_row(username: str, email: str, status: str, fullname: str = "", displayname: str = "") -> list[str]:
    return [username, email, status, "1", "0", "0", f"U{sum(map(ord, username)):06d}", fullname, displayname, ""]

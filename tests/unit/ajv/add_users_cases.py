"""The bodies tests/unit/test_rocketchat_add_users.py checks against AJV: written to bodies.json, which
add_users_ajv.js answers into expected.json. Run: python3 add_users_cases.py (regenerates both
files; needs node and `npm install ajv@8` in this directory)."""

import json
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
USER = {"emails": ["ann@example.com"], "importIds": ["u1"]}


def user(**fields):
    return {**USER, **fields}


BODIES = [
    "",
    "not json",
    "null",
    "[]",
    '"users"',
    "{}",
    '{"users": []}',
    '{"users": [], "extra": 1}',
    '{"users": null}',
    '{"users": "nobody"}',
    '{"users": {}}',
    '{"users": [1]}',
    '{"users": [[]]}',
    '{"users": [null]}',
    *(
        json.dumps({"users": users})
        for users in [
            [USER],
            [USER, USER],
            [{}],
            [{"emails": ["a@x"]}],
            [{"importIds": ["1"]}],
            [user(emails=None)],
            [user(emails="a@x")],
            [user(emails=[5, True, None, 1.5])],
            [user(emails=[["a"]])],
            [user(emails=[{}])],
            [user(importIds=[1, 2.0])],
            [user(importIds=None)],
            [user(username=5)],
            [user(username=True)],
            [user(username=None)],
            [user(username=[])],
            [user(username={})],
            [user(username=0)],
            [user(username=1.5)],
            [user(username=1e21)],
            [user(username=-0.0)],
            [user(utcOffset="5")],
            [user(utcOffset="-3.5")],
            [user(utcOffset="")],
            [user(utcOffset=" 7 ")],
            [user(utcOffset="abc")],
            [user(utcOffset=True)],
            [user(utcOffset=False)],
            [user(utcOffset=None)],
            [user(utcOffset=[])],
            [user(utcOffset="1e3")],
            [user(utcOffset=0)],
            [user(deleted="true")],
            [user(deleted="false")],
            [user(deleted=1)],
            [user(deleted=0)],
            [user(deleted=1.0)],
            [user(deleted="")],
            [user(deleted="yes")],
            [user(deleted=2)],
            [user(deleted=None)],
            [user(deleted=[])],
            [user(roles=None)],
            [user(roles="admin")],
            [user(roles=["admin", 3])],
            [user(roles=[None])],
            [user(name="", bio=0, type=False, password=None)],
            [user(avatarUrl=12, statusText="x", other={"a": 1})],
            [USER, {"emails": []}],
            [USER, user(username=[])],
            [user(username={}, utcOffset="abc")],
        ]
    ),
]


def main():
    (HERE / "bodies.json").write_text(json.dumps(BODIES, indent=1) + "\n")
    answers = subprocess.run(["node", "add_users_ajv.js"], cwd=HERE, capture_output=True, text=True, check=True)
    (HERE / "expected.json").write_text(answers.stdout)


if __name__ == "__main__":
    main()

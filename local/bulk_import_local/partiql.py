"""The one PartiQL statement the worker sends, read as DynamoDB reads it.

The batch function creates entries with `INSERT INTO "<table>" VALUE {'<name>': ?, ...}`, every value
a parameter (bulk_import.dal.dynamodb.directory_items). The local stack reads that form, and only it: moto's own
PartiQL scans the whole table per statement and lets an INSERT overwrite (moto_partiql.py), the
boundary's strict mode measures the item (sdk_boundary.py), the IAM check names its partition
(iam_policies.py).
"""

from __future__ import annotations

import re
from typing import Any

_INSERT = re.compile(r"""\s*INSERT\s+INTO\s+"(?P<table>[^"]+)"\s+VALUE\s+\{(?P<names>[^{}]*)\}\s*""", re.IGNORECASE)
_NAME = re.compile(r"""\s*'(?P<name>[^']+)'\s*:\s*\?\s*""")


def parsed_insert(statement: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(table, item) of a BatchExecuteStatement statement that is such an INSERT; None otherwise."""
    found = _INSERT.fullmatch(statement.get("Statement", ""))
    if found is None:
        return None
    parts = found.group("names").split(",")
    names = [match.group("name") for part in parts if (match := _NAME.fullmatch(part))]
    parameters = statement.get("Parameters", [])
    if len(names) != len(parts) or len(names) != len(parameters):
        return None
    return found.group("table"), dict(zip(names, parameters, strict=True))


def inserted_items(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, item) of each INSERT of a BatchExecuteStatement request."""
    return [insert for statement in params.get("Statements", []) if (insert := parsed_insert(statement))]

"""docs/data-model.md lists exactly the attribute names the store writes, kind by kind: the names
are defined once (a StrEnum per kind in bulk_import/dal/dynamodb) and the page is read here, so a
name added, renamed or dropped in one place and not the other fails."""

from __future__ import annotations

import re
from enum import StrEnum

from bulk_import.dal.dynamodb.attributes import KeyAttribute, names_of
from bulk_import.dal.dynamodb.credential_items import (
    ApiCredentialAttribute,
    CellTokenAttribute,
    RocketChatUserAttribute,
)
from bulk_import.dal.dynamodb.directory_items import DirectoryAttribute
from bulk_import.dal.dynamodb.operation_items import (
    CellAttribute,
    CountAttribute,
    FailureAttribute,
    OperationAttribute,
    StartKeyAttribute,
)
from bulk_import.dal.dynamodb.record_items import (
    FAILURE_ATTRIBUTES,
    FailedEntryAttribute,
    MarkerAttribute,
    RecordAttribute,
)
from tests.support.stack import ROOT, TEMPLATE

DATA_MODEL = ROOT / "docs/data-model.md"
#: The rows of operations, which refer to the operation table instead of listing its names.
OPERATION_ROWS = {"the cell's latest operation", "an earlier operation"}
#: Each row of the item table: the attribute names it must list, and the fields of its maps.
ITEMS: dict[str, tuple[frozenset[str], dict[str, type[StrEnum]]]] = {
    "cell": (names_of(CellAttribute), {}),
    "a start's Idempotency-Key": (names_of(StartKeyAttribute), {}),
    "Rocket.Chat user credential": (names_of(RocketChatUserAttribute), {}),
    "Personium cell token": (names_of(CellTokenAttribute), {}),
    "/v1 API credential": (names_of(ApiCredentialAttribute), {}),
    "record staged by `import.addUsers`": (names_of(RecordAttribute) - FAILURE_ATTRIBUTES, {}),
    "failed record": (names_of(RecordAttribute), {}),
    "batch counted marker": (names_of(MarkerAttribute), {MarkerAttribute.FAILED: FailedEntryAttribute}),
    "imported user / channel / message": (names_of(DirectoryAttribute), {}),
}
OPERATION_MAPS: dict[str, type[StrEnum]] = {
    OperationAttribute.COUNT: CountAttribute,
    OperationAttribute.FAILURE: FailureAttribute,
}


def table(header: str) -> list[list[str]]:
    """The rows of the page's table whose header row starts with `header`, as lists of cells."""
    lines = DATA_MODEL.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def listed(cell: str) -> tuple[set[str], dict[str, set[str]]]:
    """The attribute names a cell lists, in backticks, and the fields of maps, in braces after their
    name. Words in parentheses, and prose after a colon, explain the names and are not names."""
    while (stripped := re.sub(r"\([^()]*\)", "", cell)) != cell:
        cell = stripped
    cell = cell.split(": ")[0]
    names: set[str] = set()
    fields: dict[str, set[str]] = {}
    depth, name = 0, ""
    for token in re.finditer(r"`([^`]+)`|[{}]", cell):
        if token.group(0) in "{}":
            depth += 1 if token.group(0) == "{" else -1
        elif depth == 0:
            name = token.group(1)
            names.add(name)
        else:
            fields.setdefault(name, set()).add(token.group(1))
    return names, fields


def operation_listed() -> tuple[set[str], dict[str, set[str]]]:
    names: set[str] = set()
    fields: dict[str, set[str]] = {}
    for attribute, _ in table("| attribute | what it holds |"):
        row_names, row_fields = listed(attribute)
        names |= row_names
        fields |= row_fields
    return names, fields


def test_the_item_table_lists_each_kind_with_exactly_the_names_the_store_writes():
    rows = table("| item | PK | SK | attributes |")
    assert {row[0] for row in rows} == set(ITEMS) | OPERATION_ROWS
    for item, _, _, attributes in rows:
        if item in OPERATION_ROWS:
            assert "`" not in attributes and "(below)" in attributes
            continue
        names, maps = ITEMS[item]
        assert listed(attributes) == (
            set(names),
            {field: set(names_of(kind)) for field, kind in maps.items()},
        ), item


def test_the_operation_table_lists_exactly_the_operation_attribute_names():
    names, fields = operation_listed()
    assert names == set(names_of(OperationAttribute))
    assert fields == {field: set(names_of(kind)) for field, kind in OPERATION_MAPS.items()}


def test_the_keys_and_the_indexes_keys_are_defined_names():
    (header,) = [line for line in DATA_MODEL.read_text().splitlines() if line.startswith("| item | PK | SK |")]
    assert set(header.strip("|").replace(" ", "").split("|")[1:3]) == set(names_of(KeyAttribute))
    defined = {
        definition["AttributeName"]
        for arguments in TEMPLATE.tables().values()
        for definition in arguments["AttributeDefinitions"]
    }
    assert defined == set(names_of(KeyAttribute)) | {
        OperationAttribute.ACTIVE_SHARD,
        OperationAttribute.STARTED_AT,
        RecordAttribute.FAILED_OF,
        RecordAttribute.FAILED_KEY,
        DirectoryAttribute.PENDING,
    }


def test_a_listing_is_read_as_names_and_map_fields():
    assert listed("`a`, `b` [{`c`, `d` (see `x`)}], `e` (TTL): prose with `f`") == ({"a", "b", "e"}, {"b": {"c", "d"}})

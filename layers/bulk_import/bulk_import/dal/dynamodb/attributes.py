"""Attribute names and the expressions that use them.

Each kind of item names its attributes once, in a StrEnum beside its mapping (operation_items,
record_items, directory_items, credential_items); the keys every item has are here. Expressions
refer to attributes through `ExpressionNames`, which builds ExpressionAttributeNames from those
enums, so an attribute renamed in its enum is renamed in every expression too (and no attribute
name can collide with one of DynamoDB's reserved words, such as `count`, `data` or `name`).
"""

from __future__ import annotations

from enum import StrEnum


class KeyAttribute(StrEnum):
    """The table's keys (template.yaml's ImportTable): every item has both."""

    PK = "PK"
    SK = "SK"


class ExpressionNames:
    """The ExpressionAttributeNames of one request, collected as its expressions name attributes."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def __call__(self, *path: StrEnum) -> str:
        """`#name`, or `#map.#field` for a path into a map, for use in an expression."""
        for attribute in path:
            self.names[f"#{attribute.value}"] = attribute.value
        return ".".join(f"#{attribute.value}" for attribute in path)


def names_of(*kinds: type[StrEnum]) -> frozenset[str]:
    """Every attribute name of the given enums."""
    return frozenset(attribute.value for kind in kinds for attribute in kind)

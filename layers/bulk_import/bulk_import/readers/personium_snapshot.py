"""A cell snapshot as Personium's `__export` writes it: `00_manifest.json` at the root, `10_odata/`
with `00_cell.json` and one `.pjson` file per entity type (a line per entity, as Elasticsearch holds
it), and `20_webdav/`. The checks Personium's import makes of one before it accepts it, in its
order (its records: readers/personium_accounts.py; docs/decisions/0009-personium-cell-snapshots.md)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable

from bulk_import.readers.personium_snapshot_refusals import (
    ManifestMistyped,
    ManifestNotJson,
    ManifestUnreadable,
    SnapshotPathMissing,
    SnapshotVersionInvalid,
)

MANIFEST = "00_manifest.json"
ODATA_DIR = "10_odata"
WEBDAV_DIR = "20_webdav"
#: The manifest's `export_version` Personium's import accepts (its SNAPSHOT_API_VERSION).
EXPORT_VERSION = 2
ACCOUNTS = f"{ODATA_DIR}/11_account.pjson"
#: The entity files, cell level then box level, in the order Personium's exporter writes and its
#: importer reads them.
PJSON_FILES = tuple(
    f"{ODATA_DIR}/{name}.pjson"
    for name in (
        "10_box",
        "11_account",
        "12_extcell",
        "20_role",
        "21_rule",
        "22_relation",
        "23_sentmessage",
        "24_receivedmessage",
        "30_extrole",
        "40_entitytype",
        "41_complextype",
        "50_property",
        "51_complextypeproperty",
        "60_associationend",
        "70_userdata",
        "80_link",
    )
)
#: What Personium's import requires, in the order it looks (its HashMap of them, keyed by entity
#: type name: tests/unit/test_personium_snapshot.py derives the order), so that the one a refusal
#: names is the first missing one Personium would name.
REQUIRED_PATHS = (
    f"{ODATA_DIR}/11_account.pjson",
    f"{ODATA_DIR}/70_userdata.pjson",
    f"{ODATA_DIR}/60_associationend.pjson",
    f"{ODATA_DIR}/80_link.pjson",
    f"{ODATA_DIR}/10_box.pjson",
    f"{ODATA_DIR}/30_extrole.pjson",
    f"{ODATA_DIR}/24_receivedmessage.pjson",
    f"{ODATA_DIR}/00_cell.json",
    f"{ODATA_DIR}/20_role.pjson",
    f"{ODATA_DIR}/40_entitytype.pjson",
    f"{ODATA_DIR}/22_relation.pjson",
    WEBDAV_DIR,
    MANIFEST,
    ODATA_DIR,
    f"{ODATA_DIR}/12_extcell.pjson",
    f"{ODATA_DIR}/51_complextypeproperty.pjson",
    f"{ODATA_DIR}/21_rule.pjson",
    f"{ODATA_DIR}/23_sentmessage.pjson",
    f"{ODATA_DIR}/41_complextype.pjson",
    f"{ODATA_DIR}/50_property.pjson",
)
#: Personium's import opens the zip for writing and creates these when they are missing: it never
#: names them missing.
_CREATED_WHEN_MISSING = frozenset({ODATA_DIR, WEBDAV_DIR})


def is_cell_snapshot(names: Iterable[str]) -> bool:
    """Whether a zip's members are laid out as Personium's export lays them out (anything at its
    root that only that layout has), as opposed to this product's own zip formats."""
    return any(name == MANIFEST or name.partition("/")[0] in (ODATA_DIR, WEBDAV_DIR) for name in names)


def check_cell_snapshot(archive: zipfile.ZipFile) -> None:
    """Raises what Personium's import refuses the snapshot with, checked in its order: the manifest
    read, parsed and its version compared, then the layout."""
    names = set(archive.namelist())
    if MANIFEST not in names:
        raise ManifestUnreadable()
    text = archive.read(MANIFEST).decode("utf-8", "replace")
    try:
        manifest = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ManifestNotJson(text) from exc
    if not isinstance(manifest, dict):
        raise ManifestMistyped()
    version = manifest.get("export_version")
    if version is not None and (type(version) is not int or not -(2**63) <= version < 2**63):
        raise ManifestMistyped()  # a string, a decimal, a boolean: not the Long Personium casts to
    if version != EXPORT_VERSION:
        raise SnapshotVersionInvalid(EXPORT_VERSION, version)
    for path in REQUIRED_PATHS:
        if path not in names and path not in _CREATED_WHEN_MISSING:
            raise SnapshotPathMissing(path)

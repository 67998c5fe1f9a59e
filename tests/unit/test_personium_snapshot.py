"""A cell snapshot as Personium's export writes it: what its import refuses before the 202, in its
order, and the accounts it imports as users."""

from __future__ import annotations

import io
import zipfile

import pytest

from bulk_import.readers.by_format import read_records
from bulk_import.readers.personium_snapshot import (
    MANIFEST,
    ODATA_DIR,
    PJSON_FILES,
    REQUIRED_PATHS,
    WEBDAV_DIR,
    check_cell_snapshot,
    is_cell_snapshot,
)
from bulk_import.readers.personium_snapshot_refusals import (
    ManifestMistyped,
    ManifestNotJson,
    ManifestUnreadable,
    SnapshotPathMissing,
    SnapshotVersionInvalid,
)
from tests.support.personium_exports import CellExport

#: SnapshotFile.createItemPathInZip's keys (entity type names, and its own for the rest), in the
#: order it puts them; the value is the path it checks.
_PATH_OF_KEY = {
    MANIFEST: MANIFEST,
    ODATA_DIR: ODATA_DIR,
    "00_cell.json": f"{ODATA_DIR}/00_cell.json",
    **dict(
        zip(
            [
                "Box",
                "Account",
                "ExtCell",
                "Role",
                "Rule",
                "Relation",
                "SentMessage",
                "ReceivedMessage",
                "ExtRole",
                "EntityType",
                "ComplexType",
                "Property",
                "ComplexTypeProperty",
                "AssociationEnd",
                "UserData",
                "link",
            ],
            PJSON_FILES,
            strict=True,
        )
    ),
    WEBDAV_DIR: WEBDAV_DIR,
}


def _java_hashmap_order(keys: list[str]) -> list[str]:
    """A java.util.HashMap's iteration order of `keys` put in this order: by bucket (String.hashCode
    spread as HashMap.hash does, masked by a table that doubled from 16 while more than 3/4 full),
    then by insertion within a bucket (a resize keeps that order)."""

    def string_hash(text: str) -> int:
        value = 0
        for character in text:
            value = (31 * value + ord(character)) & 0xFFFFFFFF
        return value

    table = 16
    while len(keys) > table * 3 // 4:
        table *= 2
    bucket = {key: (string_hash(key) ^ (string_hash(key) >> 16)) & (table - 1) for key in keys}
    return sorted(keys, key=lambda key: (bucket[key], keys.index(key)))


def test_the_paths_are_checked_in_the_order_of_personiums_hashmap():
    assert list(REQUIRED_PATHS) == [_PATH_OF_KEY[key] for key in _java_hashmap_order(list(_PATH_OF_KEY))]


def _check(export: CellExport) -> None:
    check_cell_snapshot(zipfile.ZipFile(io.BytesIO(export.zip())))


def test_an_export_as_personium_writes_it_passes_and_is_told_from_the_products_own_zips():
    export = CellExport()
    _check(export)
    assert is_cell_snapshot(export.members())
    assert not is_cell_snapshot(["users.csv", "channels.csv", "general/messages.csv"])
    assert not is_cell_snapshot(["users.json", "channels.json"])


@pytest.mark.parametrize(
    ("manifest", "refusal", "arguments"),
    [
        (b"{not json", ManifestNotJson, ("{not json",)),
        (b"", ManifestNotJson, ("",)),
        ({"unit_url": "https://unit.example/"}, SnapshotVersionInvalid, (2, None)),
        ({"export_version": None}, SnapshotVersionInvalid, (2, None)),
        ({"export_version": 1}, SnapshotVersionInvalid, (2, 1)),
        ({"export_version": 3000}, SnapshotVersionInvalid, (2, 3000)),
        ({"export_version": "2"}, ManifestMistyped, ()),
        ({"export_version": 2.0}, ManifestMistyped, ()),
        ({"export_version": True}, ManifestMistyped, ()),
        ([{"export_version": 2}], ManifestMistyped, ()),
        (2, ManifestMistyped, ()),
    ],
    ids=repr,
)
def test_a_manifest_personium_refuses_is_refused_with_what_it_says(manifest, refusal, arguments):
    with pytest.raises(refusal) as refused:
        _check(CellExport(manifest=manifest))
    assert type(refused.value) is refusal and refused.value.args == arguments


def test_the_manifest_is_read_before_the_layout_is_checked():
    with pytest.raises(ManifestUnreadable):
        _check(CellExport(left_out={MANIFEST, f"{ODATA_DIR}/00_cell.json"}))
    with pytest.raises(SnapshotVersionInvalid):
        _check(CellExport(manifest={"export_version": 1}, left_out={f"{ODATA_DIR}/00_cell.json"}))


@pytest.mark.parametrize("missing", [*PJSON_FILES, f"{ODATA_DIR}/00_cell.json"])
def test_each_missing_odata_file_is_named(missing):
    with pytest.raises(SnapshotPathMissing) as refused:
        _check(CellExport(left_out={missing}))
    assert refused.value.args == (missing,)


def test_of_several_missing_files_the_first_in_personiums_order_is_named_and_no_directory_ever():
    several = {f"{ODATA_DIR}/50_property.pjson", f"{ODATA_DIR}/10_box.pjson", f"{ODATA_DIR}/11_account.pjson"}
    with pytest.raises(SnapshotPathMissing) as refused:
        _check(CellExport(left_out=several))
    assert refused.value.args == (f"{ODATA_DIR}/11_account.pjson",)
    # Personium creates 20_webdav/ when it is missing (it opens the zip to write): not a refusal.
    export = CellExport()
    _check(CellExport(left_out={name for name in export.members() if name.startswith(f"{WEBDAV_DIR}/")}))


def test_its_accounts_are_read_as_users_and_a_line_that_is_no_account_fails_alone():
    export = CellExport(accounts=["me", "you", "them"], account_lines=["not json", '{"_source": {"s": {}}}'])
    records = list(read_records(lambda: io.BytesIO(export.zip()), name="cell.zip"))
    assert [(r.type, r.data, r.problem) for r in records[:3]] == [
        ("user", {"username": name, "importIds": [f"account-{n}"]}, None)
        for n, name in enumerate(["me", "you", "them"])
    ]
    assert [r.source for r in records] == [f"{ODATA_DIR}/11_account.pjson:{line}" for line in range(1, 6)]
    assert [r.problem for r in records[3:]] == [
        "invalid JSON (Expecting value: line 1 column 1 (char 0))",
        "not an account: no _source.s.Name",
    ]
    resumed = list(read_records(lambda: io.BytesIO(export.zip()), records[1].cursor, name="cell.zip"))
    assert [r.data.get("username") for r in resumed] == ["them", None, None]

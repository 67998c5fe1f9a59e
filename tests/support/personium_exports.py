"""Cell snapshots built as Personium's exporter writes them (SnapshotFileExportRunner): the manifest
at the root, `10_odata/00_cell.json` and the sixteen `.pjson` files (created even when empty), an
Elasticsearch hit a line, and `20_webdav/` with a `.pmeta` (and a `content` for a file) per
resource, the main box as `__`, another box by its id (personium-core's SnapshotFileExportRunner and
SnapshotFileExportVisitor)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from bulk_import.readers.personium_snapshot import MANIFEST, ODATA_DIR, PJSON_FILES, WEBDAV_DIR

CELL_ID = "c0ffee00c0ffee00c0ffee00c0ffee00"
BOX_ID = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
MILLIS = 1_700_000_000_000


def _hit(entity_type: str, identifier: str, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "_index": "u0_ad",
        "_type": entity_type,
        "_id": identifier,
        "_source": {"c": CELL_ID, "p": MILLIS, "u": MILLIS} | source,
    }


@dataclass
class CellExport:
    """A cell's content, and the zip Personium's export would write of it. `manifest`, `members`
    left out and lines added let a test write each malformed case."""

    accounts: list[str] = field(default_factory=lambda: ["me", "you"])
    roles: list[str] = field(default_factory=lambda: ["admin"])
    files: dict[str, bytes] = field(default_factory=lambda: {"notes.txt": b"hello"})
    manifest: Any = field(default_factory=lambda: {"export_version": 2, "unit_url": "https://unit.example/"})
    left_out: set[str] = field(default_factory=set)
    account_lines: list[str] = field(default_factory=list)

    def members(self) -> dict[str, bytes]:
        role_ids = [f"role-{n}" for n in range(len(self.roles))]
        pjson = {name: [] for name in PJSON_FILES}
        pjson[f"{ODATA_DIR}/10_box.pjson"].append(_hit("Box", BOX_ID, {"s": {"Name": "box1", "Schema": None}}))
        for number, name in enumerate(self.roles):
            pjson[f"{ODATA_DIR}/20_role.pjson"].append(_hit("Role", role_ids[number], {"s": {"Name": name}}))
        for number, name in enumerate(self.accounts):
            account = {
                "s": {"Name": name, "Type": "basic", "Status": "active", "IPAddressRange": None},
                "h": {"HashedCredential": "x" * 64},
                "l": {"Role": role_ids[:1]},
            }
            pjson[f"{ODATA_DIR}/11_account.pjson"].append(_hit("Account", f"account-{number}", account))
        pjson[f"{ODATA_DIR}/80_link.pjson"] += [
            _hit(
                "link", f"link-{number}", {"t1": "Account", "k1": f"account-{number}", "t2": "Role", "k2": role_ids[0]}
            )
            for number in range(len(self.accounts) if self.roles else 0)
        ]
        members: dict[str, bytes] = {
            MANIFEST: self.manifest if isinstance(self.manifest, bytes) else json.dumps(self.manifest).encode(),
            f"{ODATA_DIR}/00_cell.json": json.dumps(
                _hit("Cell", CELL_ID, {"s": {"Name": "exported"}, "h": {"Owner": None}})
            ).encode(),
        }
        for name, hits in pjson.items():
            lines = [json.dumps(hit) for hit in hits]
            if name.endswith("11_account.pjson"):
                lines += self.account_lines
            members[name] = "".join(f"{line}\n" for line in lines).encode()
        members[f"{WEBDAV_DIR}/.pmeta"] = json.dumps({"i": CELL_ID, "t": "Cell", "a": {}, "d": {}}).encode()
        for box in ("__", BOX_ID):
            members[f"{WEBDAV_DIR}/{box}/.pmeta"] = json.dumps({"i": box, "t": "col.box"}).encode()
        for name, content in self.files.items():
            path = f"{WEBDAV_DIR}/__/{name}"
            members[f"{path}/.pmeta"] = json.dumps(
                {"i": name, "t": "dav.file", "ct": "text/plain", "cl": len(content), "et": "none", "v": 1}
            ).encode()
            members[f"{path}/content"] = content
        return {name: content for name, content in members.items() if name not in self.left_out}

    def zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in self.members().items():
                archive.writestr(name, content)
        return buffer.getvalue()

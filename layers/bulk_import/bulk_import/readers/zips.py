"""Telling a zip by its first bytes and listing its members from its central directory."""

from __future__ import annotations

import zipfile
from typing import BinaryIO

#: A zip starts with a local file header, or (empty) with its end of central directory.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def zip_members(file: BinaryIO) -> set[str] | None:
    """The zip's member names (from its central directory, at its end); None if it is not a zip or
    cannot be read as one."""
    try:
        return set(zipfile.ZipFile(file).namelist())
    except zipfile.BadZipFile:
        return None  # zip_records says why it cannot be read
    finally:
        file.seek(0)

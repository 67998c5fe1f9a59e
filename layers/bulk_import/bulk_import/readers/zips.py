"""Telling a zip by its first bytes and listing its members from its central directory."""

from __future__ import annotations

import zipfile
from typing import BinaryIO

#: A zip starts with a local file header, or (empty) with its end of central directory.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def open_zip(file: BinaryIO) -> zipfile.ZipFile | None:
    """The zip, its central directory read (from its end); None if it is not a zip or cannot be
    read as one."""
    try:
        return zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        return None


def zip_members(file: BinaryIO) -> set[str] | None:
    """The zip's member names (open_zip); the file is left at its start for the reader that follows."""
    archive = open_zip(file)
    file.seek(0)
    return None if archive is None else set(archive.namelist())

"""Any import file: a zip is Rocket.Chat's CSV importer's, anything else JSON Lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from bulk_import.readers.json_lines import json_record, json_type
from bulk_import.readers.lines import SourceRecord, lines, records_of_lines
from bulk_import.readers.rocketchat_csv import zip_records

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_records(
    open_file: Callable[[], BinaryIO], cursor: dict[str, int] | None = None, name: str = "input"
) -> Iterator[SourceRecord]:
    """Every record of the file `open_file()` opens (a zip or JSON Lines), from `cursor` on."""
    with open_file() as file:
        is_zip = file.read(4) in _ZIP_MAGIC
        file.seek(0)
        if is_zip:
            yield from zip_records(file, name, cursor)
        else:
            yield from records_of_lines(lines(file, cursor), name, 0, json_record, json_type)

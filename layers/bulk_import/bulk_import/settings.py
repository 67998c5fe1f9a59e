"""Function configuration, validated once per cold start from the template's environment."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel

from bulk_import.model import CellName


class Settings(BaseModel):
    table_name: str
    rocketchat_cell: CellName
    personium_version: str


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ["TABLE_NAME"],
        rocketchat_cell=os.environ["ROCKETCHAT_CELL"],
        personium_version=os.environ["PERSONIUM_VERSION"],
    )

"""Function configuration, validated once per cold start from the template's environment."""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from bulk_import.model import CellName


class Settings(BaseModel):
    """What every function has."""

    table_name: str
    rocketchat_cell: CellName
    personium_version: str
    #: Days a finished operation and its records are kept before DynamoDB's TTL deletes them.
    retention_days: int = Field(default=90, ge=1)
    #: An active import whose worker showed no progress for this long is shown as stalled ...
    stalled_after_minutes: int = Field(default=10, ge=1)
    #: ... and for this long is failed by the sweeper.
    fail_stalled_after_minutes: int = Field(default=60, ge=1)
    #: Rocket.Chat's settings API_Enable_CORS and API_CORS_Origin, with their defaults: a CORS
    #: preflight to the Rocket.Chat dialect is refused (405) unless enabled; `*` or a comma-separated
    #: list of origins (bulk_import.api.rocketchat.resolve).
    rocketchat_api_enable_cors: bool = False
    rocketchat_api_cors_origin: str = "*"

    @property
    def stalled_after(self) -> timedelta:
        return timedelta(minutes=self.stalled_after_minutes)

    @property
    def fail_stalled_after(self) -> timedelta:
        return timedelta(minutes=self.fail_stalled_after_minutes)


class ImportSettings(Settings):
    """What the functions that start, run or stop imports have as well."""

    # Built when first used: the status functions never read these.
    model_config = ConfigDict(defer_build=True)

    import_bucket: str
    # Only the API functions start and stop the worker; the worker's own functions cannot name
    # the state machine that names them (CloudFormation would see a cycle).
    state_machine_arn: str | None = None
    # Only the stage function sets it: it writes it into the manifest the batch map reads.
    batch_concurrency: int = 10


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ["TABLE_NAME"],
        rocketchat_cell=os.environ["ROCKETCHAT_CELL"],
        personium_version=os.environ["PERSONIUM_VERSION"],
        retention_days=os.environ.get("RETENTION_DAYS", 90),
        stalled_after_minutes=os.environ.get("STALLED_AFTER_MINUTES", 10),
        fail_stalled_after_minutes=os.environ.get("FAIL_STALLED_AFTER_MINUTES", 60),
        rocketchat_api_enable_cors=os.environ.get("ROCKETCHAT_API_ENABLE_CORS", False),
        rocketchat_api_cors_origin=os.environ.get("ROCKETCHAT_API_CORS_ORIGIN", "*"),
    )


@lru_cache(maxsize=1)
def get_import_settings() -> ImportSettings:
    return ImportSettings(
        **get_settings().model_dump(),
        import_bucket=os.environ["IMPORT_BUCKET"],
        state_machine_arn=os.environ.get("STATE_MACHINE_ARN"),
        batch_concurrency=os.environ.get("BATCH_CONCURRENCY", 10),
    )

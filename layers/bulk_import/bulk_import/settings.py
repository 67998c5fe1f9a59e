"""Function configuration, read once per cold start from the template's environment.

Read with the standard library rather than pydantic-settings: the status reads load no pydantic
(docs/decisions/0002-cold-start-budget.md). The rules are this project's own: whole numbers in
digits, booleans `true` or `false`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from bulk_import.domain.operation import valid_cell_name

#: What a boolean variable may say, whatever its case.
_BOOLEANS = {"true": True, "false": False}


def _positive(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number ≥ 1, not {text!r}")
    return int(text)


def _boolean(name: str, default: bool) -> bool:
    text = os.environ.get(name)
    if text is None:
        return default
    if text.strip().lower() not in _BOOLEANS:
        raise ValueError(f"{name} must be true or false, not {text!r}")
    return _BOOLEANS[text.strip().lower()]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What every function has."""

    table_name: str
    rocketchat_cell: str
    personium_version: str
    #: Days a finished operation and its records are kept before DynamoDB's TTL deletes them.
    retention_days: int = 90
    #: An active import whose worker showed no progress for this long is shown as stalled ...
    stalled_after_minutes: int = 10
    #: ... and for this long is failed by the sweeper.
    fail_stalled_after_minutes: int = 60
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


@dataclass(frozen=True, kw_only=True)
class ImportSettings(Settings):
    """What the functions that start, run or stop imports have as well."""

    import_bucket: str
    # Only the API functions start and stop the worker; the worker's own functions cannot name
    # the state machine that names them (CloudFormation would see a cycle).
    state_machine_arn: str | None = None
    # Only the stage function sets it: it writes it into the manifest the batch map reads.
    batch_concurrency: int = 10
    #: How long after an import ended early no attempt of its batches can still run, so that its
    #: counts can be settled (the stage function of a retry and the sweeper).
    reconcile_after_seconds: int = 180
    #: Rocket.Chat's SSRF_Allowlist setting: the private targets a public URL may name
    #: (downloadPublicImportFile, and the downloads of downloadPendingFiles and
    #: downloadPendingAvatars); its forms are those of bulk_import.dal.public_urls.Allowlist.
    ssrf_allowlist: str = ""
    #: The largest file downloadPublicImportFile downloads (and any one pending download).
    download_max_megabytes: int = 4096

    @property
    def reconcile_after(self) -> timedelta:
        return timedelta(seconds=self.reconcile_after_seconds)

    @property
    def download_max_bytes(self) -> int:
        return self.download_max_megabytes * 1024 * 1024


def _settings_fields() -> dict[str, Any]:
    return {
        "table_name": os.environ["TABLE_NAME"],
        "rocketchat_cell": valid_cell_name(os.environ["ROCKETCHAT_CELL"]),
        "personium_version": os.environ["PERSONIUM_VERSION"],
        "retention_days": _positive("RETENTION_DAYS", 90),
        "stalled_after_minutes": _positive("STALLED_AFTER_MINUTES", 10),
        "fail_stalled_after_minutes": _positive("FAIL_STALLED_AFTER_MINUTES", 60),
        "rocketchat_api_enable_cors": _boolean("ROCKETCHAT_API_ENABLE_CORS", False),
        "rocketchat_api_cors_origin": os.environ.get("ROCKETCHAT_API_CORS_ORIGIN", "*"),
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(**_settings_fields())


@lru_cache(maxsize=1)
def get_import_settings() -> ImportSettings:
    return ImportSettings(
        **_settings_fields(),
        import_bucket=os.environ["IMPORT_BUCKET"],
        state_machine_arn=os.environ.get("STATE_MACHINE_ARN"),
        batch_concurrency=_positive("BATCH_CONCURRENCY", 10),
        reconcile_after_seconds=_positive("RECONCILE_AFTER_SECONDS", 180),
        ssrf_allowlist=os.environ.get("SSRF_ALLOWLIST", ""),
        download_max_megabytes=_positive("DOWNLOAD_MAX_MEGABYTES", 4096),
    )

"""The /v1 write routes' request bodies, as pydantic models: Powertools' validation reads each body
with its model (native/writes.py words what it refuses), and the OpenAPI document describes the
bodies by the same models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.uploads import MAX_UPLOAD_SIZE

FILE_NAME = r"^[^/\\\x00-\x1f]+$"
UPLOAD_ID = r"^[0-9a-f]{24}$"
RECORD_ID = r"^(user|channel|message):[0-9]+$"

#: What a value of each pattern must be, in the words of a refusal.
PATTERN_WORDS = {
    FILE_NAME: "must be a file name, without '/', '\\' or control characters",
    UPLOAD_ID: "must be an uploadId as POST .../uploads answered it (24 hexadecimal digits, lowercase)",
    RECORD_ID: "must be a record id as the errors listing names it: user:<n>, channel:<n> or message:<n>",
}
#: Why a body that has both sources, or neither, is refused.
ONE_SOURCE = "give either uploadId or records, not both"
#: Each model is built when a request first needs it: a cold start builds only its route's.
BUILT_WHEN_USED = ConfigDict(defer_build=True)


class UploadRequest(BaseModel):
    model_config = BUILT_WHEN_USED

    filename: Annotated[str, Field(min_length=1, max_length=255, pattern=FILE_NAME)] = Field(
        description="Name of the file (a .zip in Rocket.Chat's CSV layout, or .jsonl)"
    )
    size: int | None = Field(
        default=None, ge=0, le=MAX_UPLOAD_SIZE, description="Bytes; above 5 GiB the upload is multipart"
    )


class CompleteUploadRequest(BaseModel):
    model_config = BUILT_WHEN_USED

    etags: list[str] = Field(
        min_length=1, max_length=10_000, description="The ETag S3 returned for each part, in part order"
    )


class InlineRecord(BaseModel):
    """A record sent inline: its type, and the fields of that type (docs/file-formats.md); the worker
    checks those."""

    model_config = BUILT_WHEN_USED | ConfigDict(extra="allow")

    type: RecordType


class StartImportRequest(BaseModel):
    model_config = BUILT_WHEN_USED

    uploadId: str | None = Field(default=None, pattern=UPLOAD_ID, description="A completed upload to import")
    records: list[InlineRecord] | None = Field(
        default=None, min_length=1, max_length=10_000, description="Records to import, instead of an upload"
    )
    name: str | None = Field(default=None, max_length=256, description="Shown as the import's name")

    @model_validator(mode="after")
    def _one_source(self) -> StartImportRequest:
        if (self.uploadId is None) == (self.records is None):
            raise ValueError(ONE_SOURCE)
        return self


class RetryRequest(BaseModel):
    model_config = BUILT_WHEN_USED

    corrections: dict[Annotated[str, Field(pattern=RECORD_ID)], dict[str, Any]] = Field(
        default_factory=dict,
        max_length=10_000,
        description="Fixed records by record id (as the errors listing names them); "
        "the others are retried as they were",
    )

"""The native /v1 API's request bodies as pydantic models: the OpenAPI document describes the bodies
by them, and tests/unit/test_native_bodies.py checks native_bodies.py, which reads them at run time
without pydantic, against them. Nothing loads this module while answering a request."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from bulk_import.domain.records.staged import RecordType
from bulk_import.logic.uploads import MAX_UPLOAD_SIZE

FileName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")]


class UploadRequest(BaseModel):
    filename: FileName = Field(description="Name of the file (a .zip in Rocket.Chat's CSV layout, or .jsonl)")
    size: int | None = Field(
        default=None, ge=0, le=MAX_UPLOAD_SIZE, description="Bytes; above 5 GiB the upload is multipart"
    )


class CompleteUploadRequest(BaseModel):
    etags: list[str] = Field(
        min_length=1, max_length=10_000, description="The ETag S3 returned for each part, in part order"
    )


class InlineRecord(BaseModel, extra="allow"):
    """A record sent inline: its type, and the fields of that type (see the README)."""

    type: RecordType


class StartImportRequest(BaseModel):
    uploadId: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")
    records: list[InlineRecord] | None = Field(default=None, min_length=1, max_length=10_000)
    name: str | None = Field(default=None, max_length=256, description="Shown as the import's name")

    @model_validator(mode="after")
    def _one_source(self) -> StartImportRequest:
        if (self.uploadId is None) == (self.records is None):
            raise ValueError("give either uploadId or records")
        return self


class RetryRequest(BaseModel):
    corrections: dict[Annotated[str, Field(pattern=r"^(user|channel|message):\d+$")], dict[str, Any]] = Field(
        default_factory=dict,
        max_length=10_000,
        description="Fixed records by record id (as the errors listing names them); "
        "the others are retried as they were",
    )

"""The native /v1 API's write side: request bodies, upload views, and the refusals only writes meet.

Apart from native.py, which both /v1 functions load, so that the read function does not load the
import machinery (uploads, files, imports), nor pydantic: the write function validates its request
bodies with Powertools (pydantic models), its responses are dicts typed by TypedDicts as native's.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel, Field, model_validator
from typing_extensions import TypedDict

from bulk_import.api.common import present
from bulk_import.api.native import answer_error, field_docstrings, invalid_request_problem, problem
from bulk_import.api.rest import Answer, by_class
from bulk_import.imports import InvalidCorrections, NotCancelable, NotRetryable, OperationBusy, UploadNotFound
from bulk_import.model import iso_millis
from bulk_import.staged_records import RecordType
from bulk_import.uploads import MAX_UPLOAD_SIZE, Upload

# -- requests --------------------------------------------------------------------------------------


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


# -- responses -------------------------------------------------------------------------------------


class UploadPart(TypedDict):
    partNumber: int
    url: str


@field_docstrings
class UploadView(TypedDict):
    """Where to PUT a file: one URL, or one per part."""

    uploadId: str
    method: str
    url: NotRequired[str]
    """Single upload: PUT the whole file here"""
    partSize: NotRequired[int]
    parts: NotRequired[list[UploadPart]]
    """Multipart upload: PUT each part, then POST the ETags to .../complete"""
    expiresAt: str


def upload_view(upload: Upload) -> UploadView:
    parts = (
        None
        if upload.part_urls is None
        else [UploadPart(partNumber=number, url=url) for number, url in enumerate(upload.part_urls, start=1)]
    )
    view: UploadView = present(
        uploadId=upload.upload_id,
        method="PUT",
        url=upload.url,
        partSize=upload.part_size,
        parts=parts,
        expiresAt=iso_millis(upload.expires_at),
    )
    return view


class CompletedUpload(TypedDict):
    uploadId: str
    filename: str


# -- errors ----------------------------------------------------------------------------------------


#: The write routes' refusals answered with a problem of their own: the error's message is its
#: detail where True.
_PROBLEM_OF_ERROR: dict[type[Exception], tuple[str, bool]] = {
    UploadNotFound: ("upload-not-found", False),
    OperationBusy: ("import-in-progress", False),
    IdempotencyValidationError: ("idempotency-key-reused", False),
    IdempotencyAlreadyInProgressError: ("idempotency-key-in-use", False),
    NotCancelable: ("not-cancelable", True),
    NotRetryable: ("not-retryable", True),
    NotFoundError: ("not-found", False),
}


def answer_write_error(error: Exception, request: Any) -> Answer:
    """native.answer_error, and the refusals of the write routes: among them, the request bodies
    that Powertools' validation refuses."""
    if (listed := by_class(_PROBLEM_OF_ERROR, error)) is not None:
        slug, detailed = listed
        return problem(slug, str(error) if detailed else None, instance=request.path)
    if isinstance(error, RequestValidationError):
        return invalid_request_problem(request, error.errors())
    if isinstance(error, InvalidCorrections):
        return problem("invalid-corrections", errors=error.problems, instance=request.path)
    return answer_error(error, request)


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    """Has Powertools' resolver answer every error as answer_write_error does."""

    @app.exception_handler(Exception)
    def answer(error: Exception) -> Response:
        answered = answer_write_error(error, app.current_event)
        return Response(answered.status_code, answered.content_type, answered.body, answered.headers)

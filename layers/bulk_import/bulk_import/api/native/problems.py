"""RFC 9457 problem details: the answer of every refused /v1 request, and which error answers which
problem (answer_error, for the read function's router and the write function's exception handlers).

Every problem's `type` is a stable URN, one per kind of error (PROBLEMS); docs/api.md lists them.
"""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from bulk_import.api.common import ProxyRequest, answer_shape, present
from bulk_import.api.rest import Answer, RouteNotFound, by_class, json_text
from bulk_import.dal.s3 import PartsRejected
from bulk_import.domain.errors import (
    AuthenticationRequired,
    CredentialExpired,
    InvalidCredential,
    InvalidCursor,
    OperationNotFound,
    PermissionDenied,
    StoreUnavailable,
)
from bulk_import.logic.imports.errors import (
    IdempotencyKeyReused,
    InvalidCorrections,
    NotCancelable,
    NotRetryable,
    OperationBusy,
    UploadNotFound,
)
from bulk_import.observability import logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:bulk-import:problem:"

#: slug -> (HTTP status, title). The `type` of a problem is PROBLEM_TYPE_PREFIX + slug.
PROBLEMS: dict[str, tuple[int, str]] = {
    "unauthenticated": (401, "A bearer credential is required"),
    "invalid-credential": (401, "The credential is not valid"),
    "credential-expired": (401, "The credential has expired"),
    "forbidden": (403, "The credential does not allow this in this cell"),
    "not-found": (404, "No such resource"),
    "operation-not-found": (404, "No such import in this cell"),
    "upload-not-found": (404, "No file was uploaded under this upload id"),
    "invalid-request": (422, "The request is not valid"),
    "invalid-cursor": (400, "The cursor does not belong to this listing"),
    "parts-rejected": (400, "S3 refused the parts as listed; send each part's ETag, in part order"),
    "invalid-corrections": (422, "Some corrections cannot be applied"),
    "import-in-progress": (409, "Another import of this cell is loading or importing"),
    "not-cancelable": (409, "The import cannot be canceled"),
    "not-retryable": (409, "The import cannot be retried"),
    "idempotency-key-reused": (422, "The Idempotency-Key was used with a different request"),
    "unsupported-media-type": (415, "The request body must be JSON (Content-Type: application/json)"),
    "internal-error": (500, "Internal error"),
    "service-unavailable": (503, "The service cannot answer now; try again after Retry-After seconds"),
}


@answer_shape
class Problem(TypedDict):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: NotRequired[str]
    instance: NotRequired[str]
    errors: NotRequired[list[str]]
    """What is wrong, one entry per invalid field or record: where, then what (`query.limit: must be a
    whole number from 1 to 1000`, `body.records[2].type: is required`)."""


def problem(
    slug: str,
    detail: str | None = None,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Answer:
    status, title = PROBLEMS[slug]
    body: Problem = present(
        type=PROBLEM_TYPE_PREFIX + slug, title=title, status=status, detail=detail, instance=instance, errors=errors
    )
    return Answer(status, json_text(body), PROBLEM_JSON, headers or {})


class InvalidRequest(Exception):
    """The request is not valid; `errors` says why, one entry per invalid field, in this API's words."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


#: The errors answered with a problem of their own: the error's message is its detail where True.
_PROBLEM_OF_ERROR: dict[type[Exception], tuple[str, bool]] = {
    InvalidCredential: ("invalid-credential", False),
    CredentialExpired: ("credential-expired", False),
    PermissionDenied: ("forbidden", False),
    OperationNotFound: ("operation-not-found", False),
    InvalidCursor: ("invalid-cursor", False),
    RouteNotFound: ("not-found", False),
    UploadNotFound: ("upload-not-found", False),
    OperationBusy: ("import-in-progress", False),
    IdempotencyKeyReused: ("idempotency-key-reused", False),
    NotCancelable: ("not-cancelable", True),
    NotRetryable: ("not-retryable", True),
    PartsRejected: ("parts-rejected", True),
}


def answer_error(error: Exception, request: ProxyRequest) -> Answer:
    """The problem a /v1 request that raised `error` gets: the one place that maps errors to problems."""
    if (listed := by_class(_PROBLEM_OF_ERROR, error)) is not None:
        slug, detailed = listed
        return problem(slug, str(error) if detailed else None, instance=request.path)
    if isinstance(error, AuthenticationRequired):
        return problem(
            "unauthenticated",
            "Send Authorization: Bearer <token>.",
            instance=request.path,
            headers={"WWW-Authenticate": 'Bearer realm="bulk-import"'},
        )
    if isinstance(error, InvalidRequest):
        return problem("invalid-request", errors=error.errors, instance=request.path)
    if isinstance(error, InvalidCorrections):
        return problem("invalid-corrections", errors=error.problems, instance=request.path)
    if isinstance(error, StoreUnavailable):
        return problem("service-unavailable", instance=request.path, headers={"Retry-After": str(error.retry_after)})
    logger.exception("Unexpected error")
    return problem("internal-error", instance=request.path)

"""The native /v1 API's write side: reading request bodies, upload views, and the refusals only
writes meet.

Apart from native.py, which both /v1 functions load, so that the read function does not load the
import machinery (uploads, files, imports). Nothing here loads pydantic or Powertools' event handler:
the bodies are read by native_bodies.py (`with_body`), the OpenAPI document describes them by their
pydantic models in native_requests.py. Responses are dicts typed by TypedDicts, as native's.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any, NotRequired

from typing_extensions import TypedDict

from bulk_import.api import native_bodies
from bulk_import.api.common import ProxyRequest, present
from bulk_import.api.native import (
    InvalidRequest,
    UnsupportedMediaType,
    answer_error,
    content_type,
    field_docstrings,
    problem,
)
from bulk_import.api.rest import Answer, ReadingRoute, Router, by_class, parse_json
from bulk_import.domain.operation import iso_millis
from bulk_import.logic.imports import (
    IdempotencyKeyReused,
    InvalidCorrections,
    NotCancelable,
    NotRetryable,
    OperationBusy,
    UploadNotFound,
)
from bulk_import.logic.uploads import Upload

# -- requests --------------------------------------------------------------------------------------


def read_body(model_name: str, event: ProxyRequest, required: bool = True) -> Any:
    """The request's JSON body as native_bodies reads the model `model_name` (native_requests.py);
    None for an optional body not sent. Refused in the words Powertools' validation used: InvalidRequest
    with pydantic's errors under `body`, UnsupportedMediaType for a body that is not JSON."""
    kind = content_type(event)
    if event.body and kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaType(kind)
    try:
        data = parse_json(event.body) if event.body else None
    except ValueError as error:
        position = error.pos if isinstance(error, json.JSONDecodeError) else 0
        raise InvalidRequest([{"loc": ("body", position), "msg": "JSON decode error"}]) from error
    if data is None:
        if not required:
            return None
        raise InvalidRequest([{"loc": ("body",), "msg": "Field required"}])
    return native_bodies.read(model_name, data)


class BodyRoute(ReadingRoute):
    """A route function called with its request body too, as `request`: read by read_body as the
    model named `model_name` in native_requests.py reads it (native_bodies, without pydantic); the
    OpenAPI document describes the body by that model."""

    def __init__(self, app: Router, function: Callable[..., Any], model_name: str, required: bool) -> None:
        super().__init__(app, function)
        self.model_name, self.required = model_name, required

    def read(self, request: Any) -> dict[str, Any]:
        return {"request": read_body(self.model_name, request, self.required)}

    def declared(self) -> dict[str, tuple[Any, Any]]:
        from bulk_import.api import native_requests  # pydantic: only the OpenAPI generator asks

        model = getattr(native_requests, self.model_name)
        if self.required:
            return {"request": (model, inspect.Parameter.empty)}
        from aws_lambda_powertools.event_handler.openapi.params import Body

        return {"request": (Annotated[model | None, Body()], None)}


def with_body(app: Router, model_name: str, required: bool = True) -> Callable[[Callable[..., Any]], BodyRoute]:
    """Decorates a route function (below the route) that takes its body as `request`, besides its path
    parameters: a `model_name` of native_requests.py."""
    return lambda function: BodyRoute(app, function, model_name, required)


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
    IdempotencyKeyReused: ("idempotency-key-reused", False),
    NotCancelable: ("not-cancelable", True),
    NotRetryable: ("not-retryable", True),
}


def answer_write_error(error: Exception, request: Any) -> Answer:
    """native.answer_error, and the refusals of the write routes."""
    if (listed := by_class(_PROBLEM_OF_ERROR, error)) is not None:
        slug, detailed = listed
        return problem(slug, str(error) if detailed else None, instance=request.path)
    if isinstance(error, InvalidCorrections):
        return problem("invalid-corrections", errors=error.problems, instance=request.path)
    return answer_error(error, request)

"""Personium's cell import: POST /{CellName}/__import, and the cell's __snapshot collection over
WebDAV (PUT, GET, DELETE, PROPFIND, OPTIONS and REPORT of a file; PROPFIND and OPTIONS of the
collection).

Powertools' APIGatewayRestResolver routes (bulk_import.api.write_resolver); Personium's error bodies
come from its exception handlers (personium.answer_error). Each route checks what Personium checks, in
its order: the cell, then the cell's lock on a write and the file's existence where Personium looks
it up first, then the caller's root, then the request itself.
"""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

import base64
from collections.abc import Callable

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import personium, personium_webdav
from bulk_import.api.common import request_url
from bulk_import.api.personium_requests import cell_import_request
from bulk_import.api.rest import Answer
from bulk_import.api.write_resolver import as_response, binary_response, write_resolver
from bulk_import.dal.dynamodb import CellStatusRead, default_store
from bulk_import.dal.s3 import default_files
from bulk_import.dal.snapshot_files import SnapshotFiles
from bulk_import.dal.stepfunctions import default_executions
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.domain.snapshot_files import DEFAULT_CONTENT_TYPE, SnapshotFile, epoch_millis
from bulk_import.logic.authorization import read_as_root
from bulk_import.logic.imports.snapshots import start_snapshot_import
from bulk_import.logic.snapshot_files import (
    delete_snapshot_file,
    read_snapshot_file,
    refuse_while_import_failed,
    refuse_writes_while_importing,
    write_snapshot_file,
)
from bulk_import.observability import logger, metrics
from bulk_import.settings import get_settings

app = write_resolver(personium.answer_error)

SNAPSHOT_FILE = "/<CellName>/__snapshot/<Name>"
SNAPSHOT_COLLECTION = "/<CellName>/__snapshot"
#: The largest file a GET answers with its bytes: a Lambda answer carries 6 MB, base64-encoded. A
#: larger one is answered with a redirect to S3 (307, a presigned URL valid DOWNLOAD_URL_SECONDS), as
#: is a request whose Accept API Gateway would not answer with bytes (personium_webdav).
INLINE_BYTES = 4 * 1024 * 1024
DOWNLOAD_URL_SECONDS = 300
#: The methods Personium knows (its request filter's OPTIONS list, REPORT, COPY, LOCK...) that a
#: __snapshot resource does not implement: answered 405, as Jersey answers them there.
_OTHER_METHODS = ["POST", "PATCH", "MERGE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "ACL", "LOCK", "UNLOCK"]


def _authorize_root(
    cell: str, before_authorization: Callable[[CellStatusRead], None] | None = None
) -> tuple[str, CellStatusRead]:
    """Checks the caller has root on the cell (one request; `before_authorization` first, once the
    cell is known); returns the token's subject and what that request read."""
    credential = personium.PersoniumCredential.of(app.current_event)
    token, read = read_as_root(default_store(), cell, credential.token, credential.cookie_peer, before_authorization)
    return token.subject, read


def _cell_serves(cell: str, write: bool) -> Callable[[CellStatusRead], None]:
    """What Personium checks of the cell itself, before the caller's rights: its lock for a write,
    then whether its last import failed (its __snapshot collection is refused then)."""

    def check(read: CellStatusRead) -> None:
        if write:
            refuse_writes_while_importing(cell, read.latest)
        refuse_while_import_failed(cell, read.latest)

    return check


def _existing_file(cell: str, name: str, write: bool = False) -> tuple[SnapshotFile, CellStatusRead]:
    """The file, looked up before the caller's rights as Personium does (after the cell's own
    checks): 404 with the file's URL if the collection has none of that name."""
    found: list[SnapshotFile] = []

    def file_found(read: CellStatusRead) -> None:
        _cell_serves(cell, write)(read)
        file = _snapshot_files().find(cell, name)
        if file is None:
            raise personium.PersoniumRequestError(personium.RESOURCE_NOT_FOUND, request_url(app.current_event))
        found.append(file)

    _, read = _authorize_root(cell, file_found)
    return found[0], read


@app.post(
    "/<CellName>/__import",
    summary="Start a cell import from a snapshot",
    tags=["Personium"],
    responses={
        202: {"description": "Import accepted; Location is the status URL"},
        400: {"description": "The body, or the snapshot (PR400-MC-0004, -MC-0003, -MC-0001, -CM-0004), is refused"},
        404: {"description": "No such snapshot (PR404-DV-0001)"},
        409: {"description": "An import of the cell runs (PR409-CM-0002)"},
        500: {"description": "A snapshot without manifest (PR500-CM-0002), or whose version is no integer"},
    },
)
def start_cell_import(CellName: str):
    user, read = _authorize_root(CellName, lambda read: refuse_writes_while_importing(CellName, read.latest))
    name = cell_import_request(app.current_event.body).Name
    operation = start_snapshot_import(
        default_store(), default_files(), default_executions(), CellName, name, user, latest=read.latest
    )
    logger.info("Cell import started", extra={"operation_id": operation.id, "snapshot": name})
    metrics.add_metric(name="ImportStarted", unit=MetricUnit.Count, value=1)
    return as_response(Answer(202, headers={"Location": request_url(app.current_event)}))


@app.get("/<CellName>/__import", include_in_schema=False)
def get_cell_import_status(CellName: str):
    """The status, for a POST with X-HTTP-Method-Override: GET (which reaches this function, which
    serves the POST; a GET reaches PersoniumStatusFunction)."""
    return as_response(Answer.json(personium.cell_import_status_answer(default_store(), CellName, app.current_event)))


@app.put(
    SNAPSHOT_FILE,
    summary="Store a snapshot file (201 when new, 204 when replaced; If-Match checked on a replace)",
    tags=["Personium"],
    responses={201: {"description": "Snapshot stored"}, 204: {"description": "Snapshot replaced"}},
)
def put_snapshot(CellName: str, Name: str):
    _authorize_root(CellName, _cell_serves(CellName, write=True))
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    file, created = write_snapshot_file(
        _snapshot_files(),
        CellName,
        Name,
        body,
        event.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
        event.headers.get("If-Match"),
    )
    headers = {"ETag": file.etag} | ({"Location": request_url(event)} if created else {})
    return as_response(Answer(201 if created else 204, headers=headers))


@app.route(
    SNAPSHOT_FILE,
    method=["GET", "HEAD"],
    summary="A snapshot file's bytes (If-None-Match, a single Range; over 4 MiB, a redirect to them)",
    tags=["Personium"],
    responses={
        200: {"description": "The file"},
        206: {"description": "The Range asked for"},
        304: {"description": "The version If-None-Match names"},
        307: {"description": "The file is larger than an answer carries: Location serves it"},
    },
)
def get_snapshot(CellName: str, Name: str):
    file, _ = _existing_file(CellName, Name)
    event = app.current_event
    headers = {"ETag": file.etag}
    if file.has_etag(event.headers.get("If-None-Match")):
        return as_response(Answer(304, headers=headers))
    headers["Accept-Ranges"] = "bytes"
    wanted = personium_webdav.byte_range(event.headers.get("Range"), file.size)
    first, last = wanted if wanted is not None else (0, file.size - 1)
    if last - first + 1 > INLINE_BYTES or not personium_webdav.answered_as_bytes(event.headers.get("Accept")):
        url = _snapshot_files().download_url(CellName, file, DOWNLOAD_URL_SECONDS)
        return as_response(Answer(307, headers=headers | {"Location": url}))
    status = 206 if wanted is not None else 200
    if wanted is not None:
        headers["Content-Range"] = personium_webdav.content_range(first, last, file.size)
    if event.http_method == "HEAD":  # what a GET would answer, without reading the bytes
        return binary_response(status, b"", file.content_type, headers)
    body = read_snapshot_file(_snapshot_files(), CellName, file, *(wanted or (None, None)))
    return binary_response(status, body, file.content_type, headers)


@app.delete(
    SNAPSHOT_FILE,
    summary="Delete a snapshot file (If-Match checked)",
    tags=["Personium"],
    responses={204: {"description": "Deleted"}},
)
def delete_snapshot(CellName: str, Name: str):
    file, _ = _existing_file(CellName, Name, write=True)
    delete_snapshot_file(_snapshot_files(), CellName, file, app.current_event.headers.get("If-Match"))
    return as_response(Answer(204))


@app.route(
    SNAPSHOT_FILE,
    method="PROPFIND",
    summary="A snapshot file's WebDAV properties (207 multistatus; Depth 0 or 1)",
    tags=["Personium"],
)
def propfind_snapshot(CellName: str, Name: str):
    file, _ = _existing_file(CellName, Name)
    _propfind_request()
    href = request_url(app.current_event).rstrip("/")
    return _multistatus([personium_webdav.file_response(href, file)], file.etag)


@app.route(
    SNAPSHOT_COLLECTION,
    method="PROPFIND",
    summary="The __snapshot collection's WebDAV properties, with Depth 1 its files' (207 multistatus)",
    tags=["Personium"],
)
def propfind_snapshots(CellName: str):
    _, read = _authorize_root(CellName, _cell_serves(CellName, write=False))
    depth = _propfind_request()
    href = request_url(app.current_event).rstrip("/")
    created = read.cell_created_at
    assert created is not None  # read_as_root refused a cell that does not exist
    # "normal": a cell whose import failed refused the request above (CM-0001).
    responses = [personium_webdav.collection_response(href, created, "normal")]
    if depth == 1:
        responses += [
            personium_webdav.file_response(f"{href}/{file.name}", file) for file in _snapshot_files().all(CellName)
        ]
    return _multistatus(responses, f'"1-{epoch_millis(created)}"')


@app.route(SNAPSHOT_FILE, method="OPTIONS", include_in_schema=False)
def snapshot_options(CellName: str, Name: str):
    """With Authorization (personium.resolve answers an OPTIONS without one): the file must exist,
    then root on the cell."""
    _existing_file(CellName, Name)
    return as_response(personium.options_response(personium.SNAPSHOT_FILE_METHODS))


@app.route(SNAPSHOT_COLLECTION, method="OPTIONS", include_in_schema=False)
def snapshots_options(CellName: str):
    _authorize_root(CellName, _cell_serves(CellName, write=False))
    return as_response(personium.options_response(personium.SNAPSHOT_COLLECTION_METHODS))


@app.route(
    SNAPSHOT_FILE,
    method="REPORT",
    summary="Not implemented (501 PR501-MC-0001), as in Personium",
    tags=["Personium"],
    responses={501: {"description": "Method not implemented"}},
)
def report_snapshot(CellName: str, Name: str):
    """Refused before anything is looked at, as Personium's CellSnapshotDavFileResource.report."""
    raise personium.PersoniumRequestError(personium.METHOD_NOT_IMPLEMENTED)


@app.route(SNAPSHOT_FILE, method=_OTHER_METHODS, include_in_schema=False)
def snapshot_method_not_allowed(CellName: str, Name: str):
    raise personium.PersoniumRequestError(personium.METHOD_NOT_ALLOWED)


@app.route(
    SNAPSHOT_COLLECTION, method=[*_OTHER_METHODS, "GET", "HEAD", "PUT", "DELETE", "REPORT"], include_in_schema=False
)
def snapshots_method_not_allowed(CellName: str):
    raise personium.PersoniumRequestError(personium.METHOD_NOT_ALLOWED)


def _propfind_request() -> int:
    """The PROPFIND's Depth, once its body is checked (Personium reads the body first)."""
    event = app.current_event
    personium_webdav.check_propfind_body(event.decoded_body if event.body else None)
    return personium_webdav.propfind_depth(event.headers.get("Depth"))


def _multistatus(responses: list, etag: str):
    body = personium_webdav.multistatus(responses)
    return as_response(Answer(207, body, headers={"ETag": etag}, content_type="application/xml"))


def _snapshot_files() -> SnapshotFiles:
    return SnapshotFiles(default_files())


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return personium.resolve(app, event, context, get_settings().personium_version)

"""The native API's reads: the import history, one import, its failed records (JSON or CSV); OPTIONS
of these resources (native.resolve).

It loads neither pydantic nor Powertools' event handler (issue 10, docs/architecture.md: together
they cost a third of a bare boto3 function's cold start): bulk_import.api.rest routes, the only
input besides the path is a few query parameters that native.with_query reads, and the views are
dicts (native's TypedDicts)."""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

import csv
import io
import tempfile

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api import native
from bulk_import.api.rest import Answer, Router
from bulk_import.dal.dynamodb import default_store
from bulk_import.domain.operation import ImportState
from bulk_import.logic.status_reads import api_failed_records, api_operation, api_operations
from bulk_import.observability import logger, metrics

app = Router(native.answer_error)

#: Failed records read per Query while writing a CSV download.
CSV_PAGE = 1000
DOWNLOAD_LINK_SECONDS = 900


@app.get("/v1/cells/{cell}/imports", summary="The cell's imports, newest first", tags=["Imports"])
@native.with_query(app, native.PageSize(default=20), native.CURSOR, native.STATE)
def list_imports(cell: str, limit: int, cursor: str | None, state: ImportState | None) -> native.ImportList:
    page = api_operations(
        default_store(), cell, native.bearer_token(app.current_event), limit, native.decode_cursor(cursor), state
    )
    return native.import_list(page.items, page.next_key)


@app.get("/v1/cells/{cell}/imports/{operationId}", summary="One import: state, counts, rate, ETA", tags=["Imports"])
def get_import(cell: str, operationId: str) -> native.ImportView:
    operation = api_operation(default_store(), cell, operationId, native.bearer_token(app.current_event)).operation
    return native.import_view(operation)


@app.get(
    "/v1/cells/{cell}/imports/{operationId}/errors",
    tags=["Imports"],
    summary="The import's failed records; Accept: text/csv redirects to a CSV of them all",
    responses={
        200: {
            "description": "A page of failed records",
            "content": {"application/json": {"model": native.FailedRecordList}},
        },
        303: {"description": "Accept: text/csv: Location is a CSV of them all (valid 15 minutes)"},
    },
)
@native.with_query(app, native.PageSize(default=100), native.CURSOR)
def list_failed_records(cell: str, operationId: str, limit: int, cursor: str | None):
    token = native.bearer_token(app.current_event)
    if "text/csv" in (app.current_event.headers.get("Accept") or ""):
        return _csv_download(cell, operationId, token)
    page = api_failed_records(default_store(), cell, operationId, token, limit, native.decode_cursor(cursor))
    return native.failed_record_list(page.items, page.next_key)


def _csv_download(cell: str, operation_id: str, token: str | None) -> Answer:
    """Writes every failed record to a CSV in S3 page by page and redirects to it: a Lambda
    response is capped at 6 MB, an S3 download is not. Memory stays at one page (the file spills
    to /tmp)."""
    # Imported here: only this download writes to S3.
    from bulk_import.dal.s3 import default_files, errors_export_key, new_upload_id

    api_operation(default_store(), cell, operation_id, token)
    files = default_files()
    key = errors_export_key(cell, operation_id, new_upload_id())
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(native.CSV_COLUMNS)
        after, rows = None, 0
        while True:
            page = default_store().failed_records(operation_id, CSV_PAGE, after)
            writer.writerows(native.csv_row(native.failed_record_view(record)) for record in page.items)
            rows += len(page.items)
            after = page.next_key
            if after is None:
                break
        text.detach()  # flushes; the spool stays open for the upload
        spool.seek(0)
        files.upload(key, spool)
    logger.info("Failed records exported", extra={"operation_id": operation_id, "rows": rows})
    url = files.presigned_get(key, DOWNLOAD_LINK_SECONDS, f"{operation_id}-errors.csv")
    return Answer(303, headers={"Location": url})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return native.resolve(app, event, context)


cold_start.end()

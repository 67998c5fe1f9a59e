"""The native API's reads: the import history, one import, its failed records (JSON or CSV); OPTIONS
of these resources (native.cors.resolve).

One import is a status read clients poll: the function stays lean, without pydantic or Powertools'
event handler (docs/decisions/0002-cold-start-budget.md). bulk_import.api.rest routes, the only
input besides the path is a few query parameters that native.queries.with_query reads, and the
views are dicts (native.views' TypedDicts)."""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

import csv
import io
import tempfile

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.api.native import cors, problems, views
from bulk_import.api.native.auth import bearer_token
from bulk_import.api.native.queries import CURSOR, STATE, PageSize, decode_cursor, with_query
from bulk_import.api.rest import Answer, Router
from bulk_import.dal.dynamodb import default_store
from bulk_import.domain.deadline import within_remaining_time
from bulk_import.domain.operation import ImportState
from bulk_import.logic.authorization import api_operation
from bulk_import.logic.status_reads import api_failed_records, api_operations
from bulk_import.observability import logger, metrics

app = Router(problems.answer_error)

#: Failed records read per Query while writing a CSV download.
CSV_PAGE = 1000
DOWNLOAD_LINK_SECONDS = 900


@app.get("/v1/cells/{cell}/imports", summary="The cell's imports, newest first", tags=["Imports"])
@with_query(app, PageSize(default=20), CURSOR, STATE)
def list_imports(cell: str, limit: int, cursor: str | None, state: ImportState | None) -> views.ImportList:
    page = api_operations(default_store(), cell, bearer_token(app.current_event), limit, decode_cursor(cursor), state)
    return views.import_list(page.items, page.next_key)


@app.get("/v1/cells/{cell}/imports/{operationId}", summary="One import: state, counts, rate, ETA", tags=["Imports"])
def get_import(cell: str, operationId: str) -> views.ImportView:
    operation = api_operation(default_store(), cell, operationId, bearer_token(app.current_event)).operation
    return views.import_view(operation)


@app.get(
    "/v1/cells/{cell}/imports/{operationId}/errors",
    tags=["Imports"],
    summary="The import's failed records; Accept: text/csv redirects to a CSV of them all",
    responses={
        200: {
            "description": "A page of failed records",
            "content": {"application/json": {"model": views.FailedRecordList}},
        },
        303: {"description": "Accept: text/csv: Location is a CSV of them all (valid 15 minutes)"},
    },
)
@with_query(app, PageSize(default=100), CURSOR)
def list_failed_records(cell: str, operationId: str, limit: int, cursor: str | None):
    token = bearer_token(app.current_event)
    if "text/csv" in (app.current_event.headers.get("Accept") or ""):
        return _csv_download(cell, operationId, token)
    page = api_failed_records(default_store(), cell, operationId, token, limit, decode_cursor(cursor))
    return views.failed_record_list(page.items, page.next_key)


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
        writer.writerow(views.CSV_COLUMNS)
        after, rows = None, 0
        while True:
            page = default_store().failed_records(operation_id, CSV_PAGE, after)
            writer.writerows(views.csv_row(views.failed_record_view(record)) for record in page.items)
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


@cold_start.ends_after_first_answer
@within_remaining_time
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return cors.resolve(app, event, context)

"""The API's own description: the OpenAPI document lists every route of the three dialects this
suite calls, and Swagger UI is served beside it; neither needs a credential."""

from __future__ import annotations

from tests.support.e2e import Http

ROUTES = {
    "/{CellName}/__import": {"get", "post"},
    "/{CellName}/__snapshot/{Name}": {"get", "head", "put", "delete", "x-additionalOperations"},
    "/{CellName}/__snapshot": {"x-additionalOperations"},  # PROPFIND: OpenAPI 3.1 has no field for it
    "/api/v1/import.status": {"get"},
    "/api/v1/getCurrentImportOperation": {"get"},
    "/api/v1/getLatestImportOperations": {"get"},
    "/api/v1/getImportProgress": {"get"},
    "/api/v1/importers.list": {"get"},
    "/api/v1/getImportFileData": {"get"},
    "/api/v1/uploadImportFile": {"post"},
    "/api/v1/downloadPublicImportFile": {"post"},
    "/api/v1/startImport": {"post"},
    "/api/v1/downloadPendingFiles": {"post"},
    "/api/v1/downloadPendingAvatars": {"post"},
    "/api/v1/import.new": {"post"},
    "/api/v1/import.addUsers": {"post"},
    "/api/v1/import.run": {"post"},
    "/api/v1/import.clear": {"post"},
    "/v1/cells/{cell}/uploads": {"post"},
    "/v1/cells/{cell}/uploads/{uploadId}/complete": {"post"},
    "/v1/cells/{cell}/imports": {"get", "post"},
    "/v1/cells/{cell}/imports/{operationId}": {"get"},
    "/v1/cells/{cell}/imports/{operationId}/errors": {"get"},
    "/v1/cells/{cell}/imports/{operationId}/cancel": {"post"},
    "/v1/cells/{cell}/imports/{operationId}/retry": {"post"},
}


def test_the_openapi_document_lists_every_route(api_url):
    answer = Http(api_url).get("/openapi.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    listed = {path: set(item) - {"parameters"} for path, item in document["paths"].items()}
    assert listed == ROUTES


def test_swagger_ui_is_served(api_url):
    answer = Http(api_url).get("/docs")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    assert "<title>Swagger UI</title>" in answer.text

"""The committed OpenAPI document is what the code generates, and it covers every route."""

import json
import re

from bulk_import_local import openapi
from tests.support.stack import FUNCTIONS, TEMPLATE


def test_the_committed_openapi_document_is_what_the_code_generates():
    committed = openapi.document_path(TEMPLATE).read_text()
    assert committed == openapi.render(openapi.generate(TEMPLATE, FUNCTIONS)), (
        "run `.venv/bin/bulk-import openapi` and commit functions/api_docs/openapi.json"
    )


#: What the __snapshot paths, routed with ANY, serve: WebDAV's methods as OpenAPI 3.2's
#: additionalOperations (x-additionalOperations in this 3.1 document); the others are answered 405.
WEBDAV_ROUTES = {
    "/{CellName}/__snapshot/{Name}": {"get", "head", "put", "delete", "propfind", "report"},
    "/{CellName}/__snapshot": {"propfind"},
}


def operations_of(path_item: dict) -> dict:
    return {key: value for key, value in path_item.items() if key != "x-additionalOperations"} | path_item.get(
        "x-additionalOperations", {}
    )


def test_the_document_is_openapi_31_and_describes_every_api_route_with_its_security():
    document = json.loads(openapi.document_path(TEMPLATE).read_text())
    assert document["openapi"] == "3.1.0"
    # OPTIONS (CORS preflights) is served on every path but is not an operation of the document.
    served = {
        (method, route.path)
        for route in TEMPLATE.routes()
        if route.function != openapi.DOCS_FUNCTION and route.method != "OPTIONS"
        for method in (WEBDAV_ROUTES[route.path] if route.method == "ANY" else {route.method.lower()})
    }
    described = {
        (method.lower(), re.sub(r"<(\w+)>", r"{\1}", path))
        for path, path_item in document["paths"].items()
        for method in operations_of(path_item)
    }
    assert described == served
    for path, path_item in document["paths"].items():
        for operation in operations_of(path_item).values():
            assert operation["security"], path
            if path.startswith("/v1/"):
                assert operation["responses"]["default"]["content"]["application/problem+json"]

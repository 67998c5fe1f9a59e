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


def test_the_document_is_openapi_31_and_describes_every_api_route_with_its_security():
    document = json.loads(openapi.document_path(TEMPLATE).read_text())
    assert document["openapi"] == "3.1.0"
    # OPTIONS (CORS preflights) is served on every path but is not an operation of the document.
    served = {
        (route.method.lower(), route.path)
        for route in TEMPLATE.routes()
        if route.function != openapi.DOCS_FUNCTION and route.method != "OPTIONS"
    }
    described = {
        (method, re.sub(r"<(\w+)>", r"{\1}", path))
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert described == served
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert operation["security"], path
            if path.startswith("/v1/"):
                assert operation["responses"]["default"]["content"]["application/problem+json"]

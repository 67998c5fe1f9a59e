"""GET /openapi.json and GET /docs: the OpenAPI 3.1 document of all three APIs, and Swagger UI.

openapi.json is generated from the handlers' routes and models (`bulk-import openapi`);
tests/template/test_openapi.py fails if the committed copy differs from what the code generates.
"""

from bulk_import.api import cold_start

cold_start.begin()  # before the imports: loading them is what it speeds up

from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from bulk_import.observability import logger

DOCUMENT = (Path(__file__).parent / "openapi.json").read_text()

app = APIGatewayRestResolver()


@lru_cache(maxsize=1)
def swagger_page() -> str:
    """Swagger UI with the document, its script and style inlined from Powertools' own copy (no
    CDN at run time). Built by the first /docs request: 1.7 MB that /openapi.json does not need."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    return generate_swagger_html(
        DOCUMENT,
        (assets / "swagger-ui-bundle.min.js").read_text(),
        (assets / "swagger-ui.min.css").read_text(),
        "",
        None,
    )


@app.get("/openapi.json")
def openapi_document() -> Response:
    return Response(status_code=200, content_type="application/json", body=DOCUMENT)


@app.get("/docs")
def swagger() -> Response:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=swagger_page())


@cold_start.ends_after_first_answer
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

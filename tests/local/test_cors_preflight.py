"""A browser's CORS preflight over HTTP reaches the functions, as API Gateway routes OPTIONS, and is
answered the way each dialect answers it (tests/integration/test_cors_preflight.py has every case)."""

import requests

from bulk_import_cli import demo

ORIGIN = "https://app.example.com"


def preflight(local_stack, path: str, method: str, requested: str) -> requests.Response:
    return requests.options(
        local_stack.api_url + path,
        timeout=10,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": requested,
        },
    )


def test_personium_preflight_is_answered_without_authorization(local_stack):
    response = preflight(local_stack, "/demo/__import", "GET", "authorization")
    assert (response.status_code, response.content) == (200, b"")
    assert "GET" in response.headers["Access-Control-Allow-Methods"].split(", ")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"] == "authorization"
    assert response.headers["X-Personium-Version"] == "1.7.22"
    # The browser then sends the request itself.
    actual = requests.get(
        local_stack.api_url + "/demo/__import",
        timeout=10,
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {demo.ROOT_TOKEN}"},
    )
    assert actual.status_code == 200 and actual.headers["Access-Control-Allow-Origin"] == "*"


def test_rocketchat_preflight_is_refused_as_rocketchat_does_by_default(local_stack):
    response = preflight(local_stack, "/api/v1/import.status", "GET", "x-auth-token,x-user-id")
    assert response.status_code == 405
    assert response.text == 'CORS not enabled. Go to "Admin > General > REST Api" to enable it.'
    plain = requests.options(local_stack.api_url + "/api/v1/import.new", timeout=10)
    assert (plain.status_code, plain.text) == (200, "OK")


def test_native_preflight_allows_the_resources_methods(local_stack):
    response = preflight(local_stack, "/v1/cells/demo/imports", "POST", "authorization,content-type,idempotency-key")
    assert (response.status_code, response.content) == (204, b"")
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, Idempotency-Key"
    assert response.headers["Access-Control-Allow-Origin"] == "*"

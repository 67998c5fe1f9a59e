"""OPTIONS on every route, through the handlers on moto, answered as each product answers it.

- Personium (personium-core): without Authorization the request filter answers any path, 200 with
  its wide method list; with one, the resource answers (its methods, for root on the cell), and
  __snapshot/{file} looks the file up first. CORS headers: `*` as origin (the seed), the rest only
  when the request has an Origin.
- Rocket.Chat (its REST API's CORS middleware): OPTIONS never reaches a route, `OK`; a preflight is
  refused with 405 unless API_Enable_CORS, then allowed for API_CORS_Origin. Every other response
  allows any origin.
- The native /v1 API: a standard preflight, 204 with the resource's methods and the headers it reads.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from bulk_import.api.native.cors import RESOURCE_METHODS
from bulk_import.api.rocketchat import CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_NOT_ENABLED
from bulk_import.dal.s3 import default_files
from bulk_import.settings import get_settings
from bulk_import_cli import demo
from tests.support.events import api_event
from tests.support.stack import TEMPLATE

ORIGIN = "https://app.example.com"
UNAUTHENTICATED_METHODS = "OPTIONS, GET, POST, PUT, DELETE, HEAD, MERGE, MKCOL, MOVE, PROPFIND, PROPPATCH, ACL"
SNAPSHOT = f"/{demo.OTHER_CELL}/__snapshot/{demo.SAMPLE_SNAPSHOT}.zip"
API_FUNCTIONS = {
    "PersoniumStatusFunction",
    "PersoniumImportFunction",
    "RocketChatStatusFunction",
    "RocketChatImportFunction",
    "NativeReadFunction",
    "NativeWriteFunction",
}


def methods_by_path() -> dict[str, set[str]]:
    served = defaultdict(set)
    for route in TEMPLATE.routes():
        served[route.path].add(route.method)
    return served


#: Where API Gateway sends an OPTIONS: the path's OPTIONS route, or its ANY (the __snapshot paths).
OPTIONS_ROUTES = {route.path: route.function for route in TEMPLATE.routes() if route.method in ("OPTIONS", "ANY")}


def example_path(resource: str) -> str:
    return (
        resource.replace("{CellName}", demo.DEMO_CELL)
        .replace("{Name}", "x.zip")
        .replace("{cell}", demo.DEMO_CELL)
        .replace("{operationId}", demo.ACTIVE_OPERATION_ID)
        .replace("{uploadId}", "u1")
    )


def options(path: str, resource: str | None = None, **headers: str) -> dict:
    """OPTIONS `path` as API Gateway sends it to the function its resource is routed to."""
    event = api_event("OPTIONS", path, headers={name.replace("_", "-"): value for name, value in headers.items()})
    event["resource"] = event["requestContext"]["resourcePath"] = resource or path
    event["requestContext"]["httpMethod"] = "OPTIONS"
    return event


def preflight(path: str, resource: str | None = None, method: str = "GET", requested: str = "authorization") -> dict:
    return options(
        path, resource, Origin=ORIGIN, Access_Control_Request_Method=method, Access_Control_Request_Headers=requested
    )


def send(invoke, resource: str, event: dict):
    return invoke(OPTIONS_ROUTES[resource], event)


@pytest.fixture
def seeded(store, function_environment):
    demo.seed_demo(store, function_environment["ROCKETCHAT_CELL"], default_files())
    return store


def test_every_path_of_the_three_apis_answers_options_through_a_function_that_serves_it():
    served = methods_by_path()
    api_paths = {path for path, methods in served.items() if path not in {"/openapi.json", "/docs"}}
    assert set(OPTIONS_ROUTES) == api_paths
    for path, function in OPTIONS_ROUTES.items():
        others = {route.function for route in TEMPLATE.routes() if route.path == path and route.method != "OPTIONS"}
        assert function in others, path
    # Where two functions share a path, the one that only reads answers (its IAM suffices).
    assert OPTIONS_ROUTES["/{CellName}/__import"] == "PersoniumStatusFunction"
    assert OPTIONS_ROUTES["/v1/cells/{cell}/imports"] == "NativeReadFunction"


def test_the_native_resources_methods_are_the_templates():
    assert {path: set(methods) for path, methods in RESOURCE_METHODS.items()} == {
        path: methods - {"OPTIONS"} for path, methods in methods_by_path().items() if path.startswith("/v1/")
    }


# -- Personium -------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["/{CellName}/__import", "/{CellName}/__snapshot/{Name}"])
def test_personium_preflight_without_authorization_is_the_filters_answer(seeded, invoke, dynamodb_requests, resource):
    dynamodb_requests.clear()
    result = send(invoke, resource, preflight(example_path(resource), resource))
    assert (result.status, result.body) == (200, None)
    assert result.headers["Allow"] == result.headers["Access-Control-Allow-Methods"] == [UNAUTHENTICATED_METHODS]
    assert {
        name: result.headers[name]
        for name in (
            "Access-Control-Allow-Origin",
            "Access-Control-Allow-Credentials",
            "Access-Control-Max-Age",
            "Access-Control-Allow-Headers",
            "Access-Control-Expose-Headers",
            "X-Personium-Version",
        )
    } == {
        "Access-Control-Allow-Origin": ["*"],
        "Access-Control-Allow-Credentials": ["true"],
        "Access-Control-Max-Age": ["86400"],
        "Access-Control-Allow-Headers": ["authorization"],
        "Access-Control-Expose-Headers": ["X-Personium-Version"],
        "X-Personium-Version": ["1.7.22"],
    }
    assert "Content-Type" not in result.headers
    assert sum(dynamodb_requests.values()) == 0  # neither the cell nor a token is looked at


def test_personium_options_without_authorization_answers_any_cell_and_even_a_refused_request_key(seeded, invoke):
    event = options("/no-such-cell/__import", "/{CellName}/__import", X_Personium_RequestKey="not valid!")
    result = send(invoke, "/{CellName}/__import", event)
    assert result.status == 200 and result.headers["Allow"] == [UNAUTHENTICATED_METHODS]
    assert "X-Personium-RequestKey" not in result.headers


def test_personium_options_without_origin_gets_only_the_fixed_cors_header(seeded, invoke):
    result = send(invoke, "/{CellName}/__import", options("/demo/__import", "/{CellName}/__import"))
    assert result.status == 200 and result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert not {
        "Access-Control-Allow-Credentials",
        "Access-Control-Max-Age",
        "Access-Control-Allow-Headers",
        "Access-Control-Expose-Headers",
    } & set(result.headers)
    assert result.headers["X-Personium-RequestKey"]


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (demo.ROOT_TOKEN, 200, None),
        (demo.READER_TOKEN, 403, "PR403-AU-0002"),
        (demo.OTHER_CELL_ROOT_TOKEN, 403, "PR403-AU-0002"),
        ("not-a-token", 401, "PR401-AU-0006"),
    ],
)
def test_personium_options_with_authorization_is_the_import_resources_for_root(
    seeded, invoke, dynamodb_requests, token, status, code
):
    dynamodb_requests.clear()
    event = options("/demo/__import", "/{CellName}/__import", Authorization=f"Bearer {token}")
    result = send(invoke, "/{CellName}/__import", event)
    assert result.status == status
    if code:
        assert result.body["code"] == code and "Allow" not in result.headers
    else:
        assert result.body is None
        assert result.headers["Allow"] == result.headers["Access-Control-Allow-Methods"] == ["OPTIONS, GET, POST"]
    assert result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert dynamodb_requests == {"BatchGetItem": 1}


def test_personium_options_with_authorization_on_an_unknown_cell_is_404(seeded, invoke):
    event = options("/no-such-cell/__import", "/{CellName}/__import", Authorization=f"Bearer {demo.ROOT_TOKEN}")
    result = send(invoke, "/{CellName}/__import", event)
    assert (result.status, result.body["code"]) == (404, "PR404-DV-0003")


def test_personium_authorization_given_by_x_override_counts(seeded, invoke):
    event = options("/demo/__import", "/{CellName}/__import", X_Override=f"Authorization: Bearer {demo.READER_TOKEN}")
    assert send(invoke, "/{CellName}/__import", event).status == 403


def test_personium_options_of_a_stored_snapshot_is_the_files_methods_for_root(seeded, invoke):
    resource = "/{CellName}/__snapshot/{Name}"
    event = options(SNAPSHOT, resource, Authorization=f"Bearer {demo.OTHER_CELL_ROOT_TOKEN}")
    result = send(invoke, resource, event)
    assert (result.status, result.body) == (200, None)
    assert result.headers["Allow"] == ["OPTIONS, GET, PUT, DELETE, PROPFIND"]
    forbidden = send(invoke, resource, options(SNAPSHOT, resource, Authorization=f"Bearer {demo.ROOT_TOKEN}"))
    assert (forbidden.status, forbidden.body["code"]) == (403, "PR403-AU-0002")


@pytest.mark.parametrize("name", ["absent.zip", "not-a-snapshot.txt"])
def test_personium_options_of_a_missing_snapshot_is_404_before_the_token_is_checked(seeded, invoke, name):
    resource = "/{CellName}/__snapshot/{Name}"
    path = f"/{demo.OTHER_CELL}/__snapshot/{name}"
    result = send(invoke, resource, options(path, resource, Authorization="Bearer not-a-token"))
    assert result.status == 404
    assert result.body == {
        "code": "PR404-DV-0001",
        "message": {
            "lang": "en",
            "value": f"Resource not found. [https://{api_event('GET', '/')['headers']['Host']}/dev{path}].",
        },
    }


def test_personium_options_of_a_snapshot_of_an_unknown_cell_is_404_cell_not_found(seeded, invoke):
    resource = "/{CellName}/__snapshot/{Name}"
    result = send(
        invoke, resource, options("/no-such-cell/__snapshot/x.zip", resource, Authorization=f"Bearer {demo.ROOT_TOKEN}")
    )
    assert (result.status, result.body["code"]) == (404, "PR404-DV-0003")


def test_personium_cors_headers_of_an_actual_request_with_an_origin(seeded, invoke):
    event = api_event("GET", "/demo/__import", demo.ROOT_TOKEN, headers={"Origin": ORIGIN})
    result = invoke("PersoniumStatusFunction", event)
    assert result.status == 200
    assert result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert result.headers["Access-Control-Expose-Headers"] == ["X-Personium-Version"]
    assert result.headers["Access-Control-Allow-Credentials"] == ["true"]
    assert "Access-Control-Allow-Headers" not in result.headers  # only what a preflight asks for


# -- Rocket.Chat ------------------------------------------------------------------------------------

RC_RESOURCES = sorted(path for path in OPTIONS_ROUTES if path.startswith("/api/v1/"))


@pytest.fixture
def rocketchat_cors(monkeypatch):
    """Sets Rocket.Chat's API_Enable_CORS and API_CORS_Origin for the functions."""

    def configure(origin: str) -> None:
        monkeypatch.setenv("ROCKETCHAT_API_ENABLE_CORS", "true")
        monkeypatch.setenv("ROCKETCHAT_API_CORS_ORIGIN", origin)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()


def test_rocketchat_has_options_on_each_of_its_fifteen_routes():
    assert len(RC_RESOURCES) == 15


@pytest.mark.parametrize("resource", RC_RESOURCES)
def test_rocketchat_plain_options_is_ok_without_credentials(seeded, invoke, dynamodb_requests, resource):
    dynamodb_requests.clear()
    result = send(invoke, resource, options(resource))
    assert (result.status, result.body) == (200, "OK")
    assert result.headers["Content-Type"] == ["text/plain;charset=UTF-8"]
    assert not any(name.startswith("Access-Control-") for name in result.headers)
    assert sum(dynamodb_requests.values()) == 0


@pytest.mark.parametrize("resource", RC_RESOURCES)
def test_rocketchat_preflight_is_refused_while_cors_is_not_enabled(seeded, invoke, resource):
    result = send(invoke, resource, preflight(resource, requested="x-auth-token,x-user-id"))
    assert (result.status, result.body) == (405, CORS_NOT_ENABLED)
    assert result.headers["Content-Type"] == ["text/plain;charset=UTF-8"]
    assert "Access-Control-Allow-Origin" not in result.headers


@pytest.mark.parametrize("headers", [{"Origin": ORIGIN}, {"Access-Control-Request-Method": "POST"}])
def test_rocketchat_an_origin_or_a_requested_method_makes_a_preflight(seeded, invoke, headers):
    event = options("/api/v1/import.new")
    event["headers"] |= headers
    event["multiValueHeaders"] |= {name: [value] for name, value in headers.items()}
    assert send(invoke, "/api/v1/import.new", event).status == 405


@pytest.mark.parametrize("resource", RC_RESOURCES)
def test_rocketchat_preflight_with_cors_enabled_for_any_origin(seeded, invoke, rocketchat_cors, resource):
    rocketchat_cors("*")
    result = send(invoke, resource, preflight(resource, method="POST"))
    assert (result.status, result.body) == (200, "OK")
    assert result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert result.headers["Access-Control-Allow-Methods"] == [CORS_ALLOW_METHODS]
    assert result.headers["Access-Control-Allow-Headers"] == [CORS_ALLOW_HEADERS]
    assert "Vary" not in result.headers


def test_rocketchat_preflight_with_cors_enabled_for_listed_origins(seeded, invoke, rocketchat_cors):
    rocketchat_cors(f" https://other.example , {ORIGIN.upper()}")
    allowed = send(invoke, "/api/v1/import.status", preflight("/api/v1/import.status"))
    assert (allowed.status, allowed.body) == (200, "OK")
    assert allowed.headers["Access-Control-Allow-Origin"] == [ORIGIN] and allowed.headers["Vary"] == ["Origin"]
    assert allowed.headers["Access-Control-Allow-Methods"] == [CORS_ALLOW_METHODS]
    unlisted = preflight("/api/v1/import.status")
    unlisted["headers"]["Origin"] = unlisted["multiValueHeaders"]["Origin"][0] = "https://evil.example"
    unlisted["multiValueHeaders"]["Origin"] = ["https://evil.example"]
    refused = send(invoke, "/api/v1/import.status", unlisted)
    assert (refused.status, refused.body) == (403, "Invalid origin")
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize(
    ("function", "path", "login", "status"),
    [
        ("RocketChatStatusFunction", "/api/v1/import.status", True, 200),
        ("RocketChatStatusFunction", "/api/v1/import.status", False, 401),
        ("RocketChatImportFunction", "/api/v1/import.clear", False, 401),
    ],
)
def test_rocketchat_other_responses_allow_any_origin_whatever_the_settings(
    seeded, invoke, function, path, login, status
):
    headers = {"X-User-Id": demo.ROCKETCHAT_USER_ID, "X-Auth-Token": demo.ROCKETCHAT_AUTH_TOKEN} if login else {}
    method = "GET" if function == "RocketChatStatusFunction" else "POST"
    result = invoke(function, api_event(method, path, headers=headers))
    assert result.status == status
    assert result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert result.headers["Access-Control-Allow-Headers"] == [CORS_ALLOW_HEADERS]
    assert "Access-Control-Allow-Methods" not in result.headers


# -- the native API --------------------------------------------------------------------------------

NATIVE_RESOURCES = sorted(path for path in OPTIONS_ROUTES if path.startswith("/v1/"))


@pytest.mark.parametrize("resource", NATIVE_RESOURCES)
def test_native_preflight_allows_the_resources_methods_and_the_headers_the_api_reads(
    seeded, invoke, dynamodb_requests, resource
):
    dynamodb_requests.clear()
    result = send(invoke, resource, preflight(example_path(resource), resource, method="POST"))
    allowed = ", ".join((*RESOURCE_METHODS[resource], "OPTIONS"))
    assert (result.status, result.body) == (204, None)
    assert {name: values[0] for name, values in result.headers.items()} == {
        "Allow": allowed,
        "Access-Control-Allow-Methods": allowed,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
        "Access-Control-Max-Age": "86400",
        "Access-Control-Expose-Headers": "Location, Retry-After, WWW-Authenticate",
    }
    assert sum(dynamodb_requests.values()) == 0  # no credential is needed, none is read


def test_native_plain_options_is_the_same_answer(seeded, invoke):
    result = send(invoke, "/v1/cells/{cell}/imports", options("/v1/cells/demo/imports", "/v1/cells/{cell}/imports"))
    assert result.status == 204 and result.headers["Allow"] == ["GET, POST, OPTIONS"]


@pytest.mark.parametrize(("token", "status"), [(demo.API_TOKEN, 200), (None, 401)])
def test_native_other_responses_allow_any_origin_and_expose_location(seeded, invoke, token, status):
    result = invoke("NativeReadFunction", api_event("GET", "/v1/cells/demo/imports", token, headers={"Origin": ORIGIN}))
    assert result.status == status
    assert result.headers["Access-Control-Allow-Origin"] == ["*"]
    assert result.headers["Access-Control-Expose-Headers"] == ["Location, Retry-After, WWW-Authenticate"]


def test_every_api_function_answers_options_without_a_credential(seeded, invoke):
    answered = {}
    for resource, function in OPTIONS_ROUTES.items():
        result = send(invoke, resource, options(example_path(resource), resource))
        answered[function] = answered.get(function, set()) | {result.status}
    assert set(answered) == API_FUNCTIONS
    assert all(statuses <= {200, 204} for statuses in answered.values()), answered

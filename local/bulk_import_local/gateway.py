"""The template's API routes on a local HTTP server, like `sam local start-api`: each request
becomes the REST API proxy event API Gateway would send, handled by the function in-process."""

from __future__ import annotations

import base64
import logging
import sys
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bulk_import_local.functions_host import FunctionsHost
from bulk_import_local.sam_template import ACCOUNT, Route
from bulk_import_local.sdk_boundary import SimulatedCrash

#: One record per request, `GET /demo/__import 200 12ms` (status in its `status` attribute); `serve`
#: prints them on its terminal (terminal.py). Without a handler, logging drops them.
request_log = logging.getLogger(__name__)


def _media_type(header: str | None) -> str:
    """The first media type a Content-Type or Accept header names, without its parameters."""
    return (header or "").split(",")[0].split(";")[0].strip().lower()


def proxy_event(
    route: Route,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    path_parameters: dict[str, str],
    source_ip: str,
    binary_types: tuple[str, ...],
) -> dict[str, Any]:
    """The REST API (payload 1.0) proxy event for one request: a body of one of the API's
    `binary_types` base64-encoded, as API Gateway passes it."""
    url = urlsplit(target)
    query = parse_qsl(url.query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    binary = _media_type(next((v for n, v in headers if n.lower() == "content-type"), None)) in binary_types
    now = time.time()
    return {
        "resource": route.path,
        "path": url.path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "resourceId": "local",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("User-Agent")},
            # The path the client called: locally there is no stage prefix in the URL.
            "path": url.path,
            "resourcePath": route.path,
            "httpMethod": method,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "domainName": dict(headers).get("Host", "127.0.0.1"),
        },
        "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", "replace")) if body else None,
        "isBase64Encoded": bool(body) and binary,
    }


def make_server(
    host: FunctionsHost, routes: list[Route], stage: str, port: int, binary_types: tuple[str, ...]
) -> ThreadingHTTPServer:
    """The API on 127.0.0.1:`port`. As API Gateway: a route's own method before its ANY, any method
    (PROPFIND, MKCOL...) passed to an ANY route, a method or path no route has answered 403 Missing
    Authentication Token, and a base64-encoded answer decoded into bytes only for a request whose
    first Accept is one of `binary_types` (the template's BinaryMediaTypes); to others, its text."""
    # Those of the request's method first: API Gateway prefers a resource's method to its ANY.
    by_preference = sorted(routes, key=lambda route: route.method.upper() == "ANY")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __getattr__(self, name: str) -> Any:
            # http.server answers a method it has no do_<METHOD> for with a 501 HTML page; API
            # Gateway passes every method to the routes.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def _serve(self) -> None:
            self._started = time.monotonic()
            path = urlsplit(self.path).path
            matched = next(
                ((route, params) for route in by_preference if (params := route.match(self.command, path)) is not None),
                None,
            )
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if matched is None:  # what API Gateway answers for a path or method it does not know
                self._reply(403, {"Content-Type": ["application/json"]}, b'{"message":"Missing Authentication Token"}')
                return
            route, params = matched
            # API Gateway tells the function the client's scheme; this server speaks plain HTTP.
            headers = [*self.headers.items(), ("X-Forwarded-Proto", "http")]
            event = proxy_event(
                route, self.command, self.path, headers, body, stage, params, self.client_address[0], binary_types
            )
            try:
                response = host.invoke(route.function, event)
            except (Exception, SimulatedCrash):  # a function that raised or died: API Gateway's 502
                traceback.print_exc(file=sys.stderr)
                self._reply(502, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}')
                return
            headers = {name: [value] for name, value in (response.get("headers") or {}).items()}
            headers.update(response.get("multiValueHeaders") or {})
            raw = response.get("body") or ""
            as_bytes = response.get("isBase64Encoded") and _media_type(self.headers.get("Accept")) in binary_types
            payload = base64.b64decode(raw) if as_bytes else raw.encode()
            self._reply(response["statusCode"], headers, payload)

        def _reply(self, status: int, headers: dict[str, list[str]], payload: bytes) -> None:
            self.send_response(status)
            for name, values in headers.items():
                for value in values:
                    self.send_header(name, value)
            if status not in (204, 304):  # which have no body, and no Content-Length (RFC 9110)
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            status = int(code) if isinstance(code, int) else 0  # an HTTPStatus
            elapsed = (time.monotonic() - getattr(self, "_started", time.monotonic())) * 1000
            request_log.info(
                "%s %s %s %.0fms", self.command, self.path, status or code, elapsed, extra={"status": status}
            )

        def log_message(self, format: str, *args: Any) -> None:  # what the server itself reports
            request_log.warning(format, *args)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)

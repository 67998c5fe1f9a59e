"""A small HTTP server on loopback that serves files, as an export's host would, for the tests of
downloadPublicImportFile. `/files/<name>` answers what `files` holds under that name (404 if nothing;
a name in `once` is served the first time only), `/status/<code>` answers that status,
`/stream/<bytes>` sends that many bytes without a length (chunked), and `requests` records each path
asked for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 * 1024


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.once: set[str] = set()
        self.requests: list[str] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closes early (a request whose body it does not read) is no error here."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        _, kind, argument = self.path.split("?")[0].split("/", 2)
        if kind == "files" and argument in self.server.files:
            self._send(200, self.server.files[argument])
            if argument in self.server.once:
                del self.server.files[argument]
        elif kind == "status":
            self._send(int(argument), b"")
        elif kind == "stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = int(argument)
            while left:
                size = min(CHUNK, left)
                self.wfile.write(b"%x\r\n%s\r\n" % (size, b"x" * size))
                left -= size
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()

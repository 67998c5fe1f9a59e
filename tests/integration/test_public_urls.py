"""bulk_import.dal.public_urls against a real HTTP server on loopback: what reaches the server (nothing,
for a refused target), which address the connection goes to, the limits, and the allowlist's forms."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3.util.connection

from bulk_import.dal import public_urls
from bulk_import.dal.public_urls import (
    Allowlist,
    FetchFailed,
    FetchTimedOut,
    ResponseTooLarge,
    SsrfValidationFailed,
    TooManyRedirects,
    UnexpectedStatus,
    check_url,
    fetch,
    is_refused_address,
)

BODY = hashlib.sha256(b"seed").digest() * 10_000  # 320,000 bytes: several chunks
PUBLIC = "93.184.216.34"  # a global address: the check lets it through


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host", "")))
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/file":
            self._send(200, BODY, {"Content-Type": "application/zip"})
        elif url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(int(query["chunks"])):
                self.wfile.write(b"%x\r\n%s\r\n" % (1000, b"x" * 1000))
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/declared":
            self.send_response(200)
            self.send_header("Content-Length", query["length"])
            self.end_headers()
            self.wfile.write(b"x" * 10)
        elif url.path == "/redirect":
            self._send(int(query.get("status", "302")), b"", {"Location": query["to"]})
        elif url.path == "/status":
            self._send(int(query["code"]), b"no", {})
        elif url.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.server.release.wait(10)
        elif url.path == "/drip":  # a byte at a time, each well within the read timeout
            chunked = "length" not in query
            self.send_response(200)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", query["length"])
            self.end_headers()
            until = time.monotonic() + 3  # then silent, for a mere read timeout to end the wait
            while time.monotonic() < until and not self.server.release.wait(0.1):
                try:
                    self.wfile.write(b"1\r\nx\r\n" if chunked else b"x")
                    self.wfile.flush()
                except OSError:
                    return
        else:
            self._send(404, b"", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, family: socket.AddressFamily = socket.AF_INET) -> None:
        self.address_family = family
        super().__init__((host, 0), Handler)
        self.connections: list[Any] = []
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections.append(client_address)
        return True

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def serve(host: str, family: socket.AddressFamily = socket.AF_INET) -> Iterator[Server]:
    server = Server(host, family)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve("127.0.0.1")


@pytest.fixture
def ipv6_server() -> Iterator[Server]:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        yield from serve("::1", socket.AF_INET6)
    except OSError as error:
        pytest.skip(f"no IPv6 loopback on this machine: {error}")


def local(server: Server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


LOOPBACK = Allowlist.parse("127.0.0.1")


def download(url: str, allowlist: Allowlist = LOOPBACK, max_bytes: int = 10**6, seconds: float = 10.0, **kw: Any):
    """The body's chunks, read within the deadline."""
    with fetch(url, allowlist, max_bytes, seconds, **kw) as response:
        return response, list(response.chunks(16 * 1024))


# The end-to-end path.


def test_an_allowlisted_loopback_target_downloads_byte_for_byte_in_chunks(server):
    response, chunks = download(local(server, "/file"))

    assert b"".join(chunks) == BODY
    assert len(chunks) > 1 and all(len(chunk) <= 16 * 1024 for chunk in chunks)
    assert response.status == 200
    assert response.content_type == "application/zip"
    assert response.content_length == len(BODY)
    assert server.requests == [("/file", f"127.0.0.1:{server.port}")]


def test_the_same_target_without_allowlist_is_refused_before_anything_reaches_the_server(server):
    with pytest.raises(SsrfValidationFailed) as refused, fetch(local(server, "/file"), Allowlist.parse(""), 10**6, 10):
        pytest.fail("the block must not run")

    assert str(refused.value) == "error-ssrf-validation-failed"
    assert server.connections == [] and server.requests == []


def test_a_redirect_from_an_allowlisted_server_to_a_refused_address_is_refused(server):
    url = local(server, f"/redirect?to=http://127.0.0.2:{server.port}/file")

    with pytest.raises(SsrfValidationFailed), fetch(url, LOOPBACK, 10**6, 10):
        pass

    assert [path for path, _ in server.requests] == [f"/redirect?to=http://127.0.0.2:{server.port}/file"]


def test_a_redirect_to_a_non_http_scheme_is_refused(server):
    with pytest.raises(SsrfValidationFailed), fetch(local(server, "/redirect?to=file:///etc/passwd"), LOOPBACK, 10, 10):
        pass


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_within_the_allowlist_are_followed(server, status):
    response, chunks = download(local(server, f"/redirect?status={status}&to=/file"))

    assert b"".join(chunks) == BODY
    assert response.url == local(server, "/file")
    assert [path for path, _ in server.requests] == [f"/redirect?status={status}&to=/file", "/file"]


def test_at_most_five_redirects_are_followed(server):
    chain = "/file"
    for _ in range(5):
        chain = "/redirect?to=" + chain.replace("&", "%26").replace("?", "%3F").replace("=", "%3D")
    _, chunks = download(local(server, chain))
    assert b"".join(chunks) == BODY and len(server.requests) == 6

    server.requests.clear()
    with pytest.raises(TooManyRedirects), fetch(local(server, "/redirect?to=" + chain), LOOPBACK, 10**6, 10):
        pass
    assert len(server.requests) == 6  # the sixth redirect is not followed


# The address checked is the address connected to.


@pytest.fixture
def connections(monkeypatch, server):
    """Record the (address, port) each connection is opened to; send the connections to PUBLIC on to the
    test server, as if it were there."""
    opened: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        if address[0] == PUBLIC:
            address = ("127.0.0.1", server.port)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return opened


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """socket.getaddrinfo answering the names in `answers` from it, one answer a call (the last repeats);
    every other name as the machine does. Returns the names asked for."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = answers[host][min(len(asked) - 1, len(answers[host]) - 1)]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_dns_answer_that_changes_after_the_check_is_never_asked_for(monkeypatch, server, connections):
    # Checked: a public address. Asked again, the name would answer loopback, where the server listens.
    asked = fake_dns(monkeypatch, {"files.example.com": [PUBLIC, "127.0.0.1"]})
    url = f"http://files.example.com:{server.port}/file"

    _, chunks = download(url, Allowlist.parse(""))

    assert b"".join(chunks) == BODY
    assert asked == ["files.example.com"]  # resolved once
    assert connections == [(PUBLIC, server.port)]  # to the checked address itself, not the name again
    assert server.requests == [("/file", f"files.example.com:{server.port}")]  # with the name as Host


def test_a_host_name_answering_a_refused_address_is_refused(monkeypatch, server, connections):
    fake_dns(monkeypatch, {"files.example.com": ["127.0.0.1"]})

    with (
        pytest.raises(SsrfValidationFailed),
        fetch(f"http://files.example.com:{server.port}/file", Allowlist(), 10, 10),
    ):
        pass

    assert connections == [] and server.connections == []


def test_every_address_of_the_answer_is_checked(monkeypatch, server, connections):
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "files.example.com":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    with (
        pytest.raises(SsrfValidationFailed),
        fetch(f"http://files.example.com:{server.port}/file", Allowlist(), 10, 10),
    ):
        pass
    assert connections == []


def test_an_allowlisted_host_name_may_resolve_privately_but_is_still_pinned(monkeypatch, server, connections):
    asked = fake_dns(monkeypatch, {"files.corp.example": ["127.0.0.1", "127.0.0.3"]})

    _, chunks = download(f"http://files.corp.example:{server.port}/file", Allowlist.parse("files.corp.example"))

    assert b"".join(chunks) == BODY
    assert asked == ["files.corp.example"]
    assert connections == [("127.0.0.1", server.port)]


def test_an_unresolvable_host_is_refused_as_rocket_chat_does(monkeypatch):
    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    with pytest.raises(SsrfValidationFailed):
        check_url("http://files.example.com/x", Allowlist())


def test_https_verifies_the_certificate_against_the_host_name_not_the_address(monkeypatch, server, connections):
    # The test server speaks plain HTTP: the TLS handshake fails, and it is asked for the host's name.
    fake_dns(monkeypatch, {"files.example.com": [PUBLIC]})
    names: list[str | None] = []
    real_wrap = urllib3.connection.ssl_wrap_socket

    def ssl_wrap_socket(sock: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(kwargs.get("server_hostname"))
        return real_wrap(sock, *args, **kwargs)

    monkeypatch.setattr(urllib3.connection, "ssl_wrap_socket", ssl_wrap_socket)

    with pytest.raises(FetchFailed), fetch(f"https://files.example.com:{server.port}/file", Allowlist(), 10, 10):
        pass

    assert connections == [(PUBLIC, server.port)]
    assert names == ["files.example.com"]


# Limits.


def test_a_body_larger_than_content_length_allows_is_refused_before_reading(server):
    with pytest.raises(ResponseTooLarge), fetch(local(server, "/declared?length=1000001"), LOOPBACK, 10**6, 10):
        pytest.fail("the block must not run")


def test_a_body_exactly_at_the_limit_downloads(server):
    _, chunks = download(local(server, "/file"), max_bytes=len(BODY))
    assert b"".join(chunks) == BODY


def test_a_chunked_body_is_cut_when_the_bytes_read_pass_the_limit(server):
    received = 0
    with fetch(local(server, "/chunked?chunks=50"), LOOPBACK, 20_500, 10) as response:
        assert response.content_length is None
        with pytest.raises(ResponseTooLarge) as too_large:
            for chunk in response.chunks(1000):
                received += len(chunk)

    assert received <= 20_500
    assert str(too_large.value) == "content size over limit: 20500"


def test_a_chunked_body_within_the_limit_downloads(server):
    _, chunks = download(local(server, "/chunked?chunks=20"), max_bytes=20_000)
    assert b"".join(chunks) == b"x" * 20_000


def test_a_stalled_server_meets_the_read_timeout(server):
    started = time.monotonic()
    with pytest.raises(FetchTimedOut), fetch(local(server, "/stall"), LOOPBACK, 1000, 10, read_timeout=0.5) as response:
        list(response.chunks())
    assert time.monotonic() - started < 3


def test_a_stalled_server_meets_the_deadline(server):
    started = time.monotonic()
    with pytest.raises(FetchTimedOut), fetch(local(server, "/stall"), LOOPBACK, 1000, 0.7) as response:
        list(response.chunks())
    assert 0.6 < time.monotonic() - started < 3


@pytest.mark.parametrize("path", ["/drip", "/drip?length=100000"])
def test_a_server_sending_a_byte_at_a_time_meets_the_deadline(server, path):
    # Each byte comes well within the read timeout; with a length, one read of a chunk waits for them all.
    started = time.monotonic()
    with pytest.raises(FetchTimedOut), fetch(local(server, path), LOOPBACK, 10**6, 0.8) as response:
        for _ in response.chunks():
            pass
    assert 0.7 < time.monotonic() - started < 3


def test_no_time_left_is_a_timeout_before_connecting(server):
    with pytest.raises(FetchTimedOut), fetch(local(server, "/file"), LOOPBACK, 10, 0):
        pass
    assert server.connections == []


@pytest.mark.parametrize("code", [403, 404, 500, 503])
def test_a_final_status_other_than_2xx_is_an_error_in_rocket_chats_words(server, code):
    with pytest.raises(UnexpectedStatus) as unexpected, fetch(local(server, f"/status?code={code}"), LOOPBACK, 10, 10):
        pass
    assert str(unexpected.value) == f"Unexpected response status {code}"


def test_a_redirect_without_location_is_a_final_status(server):
    with (
        pytest.raises(UnexpectedStatus, match=r"^Unexpected response status 302$"),
        fetch(local(server, "/status?code=302"), LOOPBACK, 10, 10),
    ):
        pass


def test_a_refused_connection_is_a_fetch_failure(server):
    port = server.port
    server.server_close()
    with pytest.raises(FetchFailed) as failed, fetch(f"http://127.0.0.1:{port}/file", LOOPBACK, 10, 10):
        pass
    assert not isinstance(failed.value, SsrfValidationFailed)
    assert str(failed.value).startswith("request failed, reason: [Errno")  # the cause, not urllib3's object


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file.zip",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "//example.com/file.zip",
        "example.com/file.zip",
        "http:///file.zip",
        "http://example.com:99999/",
        "http://example.com:0/",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_fetched(url):
    with pytest.raises(SsrfValidationFailed):
        check_url(url, Allowlist.parse("example.com"))


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",  # not a domain by Rocket.Chat's pattern, allowlisted or not
        "http://127.1/",
        "http://0x7f.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://files_corp/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_hosts_of_no_valid_form_and_the_metadata_name_are_refused_without_a_lookup(monkeypatch, url):
    asked = fake_dns(monkeypatch, {"metadata.google.internal": [PUBLIC]})
    with pytest.raises(SsrfValidationFailed):
        check_url(url, Allowlist.parse("localhost"))
    assert asked == []


# IPv6.


def test_ipv6_loopback_is_refused_unless_allowlisted(ipv6_server):
    url = f"http://[::1]:{ipv6_server.port}/file"
    with pytest.raises(SsrfValidationFailed), fetch(url, LOOPBACK, 10**6, 10):
        pass
    assert ipv6_server.connections == []

    _, chunks = download(url, Allowlist.parse("::1"))
    assert b"".join(chunks) == BODY
    assert ipv6_server.requests == [("/file", f"[::1]:{ipv6_server.port}")]


def test_an_ipv4_mapped_loopback_is_refused_unless_allowlisted(server):
    url = f"http://[::ffff:127.0.0.1]:{server.port}/file"
    with pytest.raises(SsrfValidationFailed), fetch(url, Allowlist.parse("[::1]"), 10**6, 10):
        pass
    assert server.connections == []

    try:
        _, chunks = download(url, Allowlist.parse("[::ffff:127.0.0.1]"))
    except FetchFailed as error:
        pytest.skip(f"no IPv6 sockets on this machine: {error}")
    assert b"".join(chunks) == BODY


# The address check.

REFUSED = [
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.0.1",
    "169.254.169.254",  # cloud metadata
    "172.16.0.1",
    "172.31.255.254",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.0.1",
    "198.18.0.1",
    "198.19.255.254",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "100.100.100.200",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:8.8.8.8",  # every IPv4-mapped address, as Rocket.Chat
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "64:ff9b::a00:1",
    "64:ff9b:1::1",
    "100::1",
    "2001::1",
    "2001:20::1",
    "2001:db8::1",
    "2002::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",  # AWS's IPv6 metadata address
    "fe80::1",
    "fe80::1%eth0",
    "febf::1",
    "ff02::1",
    "ff0e::1",
]
PUBLIC_ADDRESSES = ["8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.32.0.1", "2606:4700::1111"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert is_refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address):
    assert not is_refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", REFUSED)
def test_a_url_naming_a_refused_address_is_refused_and_an_allowlisted_one_is_not(address):
    bare = address.split("%")[0]
    literal = f"[{bare}]" if ":" in bare else bare
    with pytest.raises(SsrfValidationFailed):
        check_url(f"http://{literal}:8080/file", Allowlist())

    target = check_url(f"http://{literal}:8080/file", Allowlist.parse(bare))
    assert target.addresses == (ipaddress.ip_address(bare),)


@pytest.mark.parametrize("address", REFUSED)
def test_a_host_name_resolving_to_a_refused_address_is_refused(monkeypatch, address):
    fake_dns(monkeypatch, {"files.example.com": [address.split("%")[0]]})
    with pytest.raises(SsrfValidationFailed):
        check_url("http://files.example.com/file", Allowlist.parse("127.0.0.1, 10.0.0.0/8, ::1"))


# The allowlist's forms (Rocket.Chat's SSRF_Allowlist).


def test_entries_are_separated_by_commas_and_new_lines_and_trimmed():
    allowlist = Allowlist.parse(" 127.0.0.1\n192.168.1.1 ,10.0.0.1,,\n\n  Files.Example.COM \n")
    assert allowlist.addresses == {ipaddress.ip_address(a) for a in ("127.0.0.1", "192.168.1.1", "10.0.0.1")}
    assert allowlist.hosts == {"files.example.com"}
    assert allowlist.ignored == ()


@pytest.mark.parametrize("setting", ["", "   ", "\n,\n", None])
def test_an_empty_setting_allows_nothing(setting):
    allowlist = Allowlist.parse(setting)
    assert allowlist == Allowlist()
    assert not allowlist.allows("127.0.0.1", 80)


@pytest.mark.parametrize(
    ("setting", "host", "port", "allowed"),
    [
        # A host name, case-insensitive, on any port.
        ("files.example.com", "files.example.com", 443, True),
        ("Files.Example.com", "FILES.example.COM", 8080, True),
        ("files.example.com", "example.com", 443, False),
        ("files.example.com", "sub.files.example.com", 443, False),  # no subdomains
        ("example.com", "files.example.com", 443, False),
        # A host name on one port.
        ("files.example.com:8443", "files.example.com", 8443, True),
        ("files.example.com:8443", "files.example.com", 443, False),
        ("files.example.com:443", "files.example.com", 443, True),  # the port connected to
        # An IPv4 address, on any port or one.
        ("10.0.0.5", "10.0.0.5", 80, True),
        ("10.0.0.5", "10.0.0.6", 80, False),
        ("10.0.0.5:8080", "10.0.0.5", 8080, True),
        ("10.0.0.5:8080", "10.0.0.5", 8081, False),
        # IPv6, bare or bracketed, on any port or one.
        ("::1", "::1", 80, True),
        ("[::1]", "::1", 80, True),
        ("[0:0::1]", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 80, False),
        ("fd00::1", "fd00::2", 80, False),
        # IPv4 and its IPv4-mapped IPv6 are the same address.
        ("127.0.0.1", "::ffff:127.0.0.1", 80, True),
        ("[::ffff:127.0.0.1]", "127.0.0.1", 80, True),
        # CIDR ranges match IP literals within them.
        ("10.0.0.0/8", "10.20.30.40", 80, True),
        ("10.0.0.0/8", "11.0.0.1", 80, False),
        ("10.1.2.3/8", "10.200.0.1", 80, True),  # host bits ignored
        ("fd00::/8", "fd12::1", 80, True),
        ("[fd00::]/8", "fd12::1", 80, True),
        ("fd00::/8", "fe80::1", 80, False),
        ("127.0.0.0/8", "::ffff:127.0.0.2", 80, True),
        ("10.0.0.0/8", "files.example.com", 80, False),  # ranges never match names
        # An IP entry matches the URL's literal, not what a name resolves to.
        ("127.0.0.1", "localhost", 80, False),
        # Several entries.
        ("a.example.com, 10.0.0.1\nb.example.com:81", "b.example.com", 81, True),
    ],
)
def test_allowlist_forms(setting, host, port, allowed):
    assert Allowlist.parse(setting).allows(host, port) is allowed


@pytest.mark.parametrize(
    "entry",
    [
        "localhost",
        "*.example.com",
        "http://files.example.com/",
        "files.example.com:http",
        "10.0.0.0/33",
        "[::1",
        "a:99999",
    ],
)
def test_entries_of_no_known_form_are_kept_aside_and_match_nothing(entry):
    allowlist = Allowlist.parse(f"{entry}, files.example.com")
    assert allowlist.ignored == (entry,)
    assert allowlist.hosts == {"files.example.com"}
    assert not allowlist.allows("localhost", 80)


def test_an_allowlisted_host_name_skips_the_address_check(monkeypatch):
    fake_dns(monkeypatch, {"files.corp.example": ["10.1.2.3"]})
    target = check_url("http://files.corp.example/x", Allowlist.parse("files.corp.example"))
    assert target.addresses == (ipaddress.ip_address("10.1.2.3"),)
    with pytest.raises(SsrfValidationFailed):
        check_url("http://files.corp.example/x", Allowlist.parse("10.0.0.0/8"))


def test_the_metadata_host_name_is_refused_unless_allowlisted(monkeypatch):
    fake_dns(monkeypatch, {"metadata.google.internal": [PUBLIC]})
    with pytest.raises(SsrfValidationFailed):
        check_url("http://metadata.google.internal/", Allowlist())
    assert check_url("http://metadata.google.internal/", Allowlist.parse("metadata.google.internal"))


def test_the_target_carries_the_host_header_path_and_query():
    target = check_url("https://[2606:4700::1111]:8443/a/b.zip?x=1#frag", Allowlist())
    assert (target.scheme, target.host, target.port, target.target) == (
        "https",
        "2606:4700::1111",
        8443,
        "/a/b.zip?x=1",
    )
    assert target.host_header == "[2606:4700::1111]:8443"
    assert check_url("http://93.184.216.34", Allowlist()).host_header == "93.184.216.34"
    assert check_url("http://93.184.216.34", Allowlist()).target == "/"


def test_the_target_is_percent_encoded_where_the_url_is_not():
    target = check_url("http://93.184.216.34/a b/\u00fc%41?q=1 2&r=\x01", Allowlist())
    assert target.target == "/a%20b/%C3%BC%41?q=1%202&r=%01"


def test_the_module_says_where_the_allowlist_forms_come_from():
    assert "packages/server-fetch/src/checkForSsrf.ts" in (public_urls.__doc__ or "")

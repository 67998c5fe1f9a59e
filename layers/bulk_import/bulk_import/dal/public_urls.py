"""Fetching a URL that an admin gave (Rocket.Chat's downloadPublicImportFile, downloadPendingFiles,
downloadPendingAvatars) without letting it reach the function's own network: server-side request
forgery. The body is handed to the caller in chunks, to be streamed on (into S3); nothing is kept.

What is refused (SsrfValidationFailed, message ``error-ssrf-validation-failed``, as Rocket.Chat answers):

- a scheme other than http and https, a URL without a host, a host that is neither an IP literal nor a
  domain name of Rocket.Chat's pattern (so ``localhost``, ``127.1``, ``0x7f.1`` and bare words are refused,
  allowlisted or not, as there), a host name that does not resolve (as there);
- any address in REFUSED_NETWORKS, which are Rocket.Chat's ranges (packages/server-fetch/src/constants.ts:
  this network, private, carrier-grade NAT 100.64/10, loopback, link-local with the cloud metadata address
  169.254.169.254, documentation, benchmarking, multicast, reserved, broadcast, Alibaba's metadata
  100.100.100.200; ::, ::1, every IPv4-mapped ::ffff:0:0/96, NAT64, 6to4, Teredo, ULA fc00::/7 with
  AWS's fd00:ec2::254, link-local, multicast), the deprecated IPv4-compatible ::/96, and any address the
  IANA special-purpose registries do not call global (ipaddress' is_global), whichever says more;
- the host name metadata.google.internal, as Rocket.Chat does.

The address checked is the address connected to. A host name is resolved once (socket.getaddrinfo);
every address of the answer is checked, and the connection goes to a checked address itself (the
first that accepts), with the host name in the Host header and, for https, as the TLS server name
and the name the certificate must carry. A DNS answer that changes after the check is never asked
for. Redirects (at most MAX_REDIRECTS, Rocket.Chat's number) are followed here, each hop checked
the same way.

The allowlist is Rocket.Chat's SSRF_Allowlist setting, and takes the same forms as
packages/server-fetch/src/checkForSsrf.ts (parseSsrfAllowlist, isInAllowlist) with
packages/server-fetch/src/helpers.ts (normalizeAllowlistEntry, normalizeHostForAllowlistMatch):

- entries are separated by commas or new lines, trimmed; empty ones are dropped;
- ``files.example.com``: that host name (case-insensitive), on any port. An allowlisted host name
  skips the address check: it may resolve to a private address (still resolved once, and pinned);
- ``files.example.com:8443``: that host name on that port only;
- ``10.0.0.5``, ``::1`` or ``[::1]``: that IP literal in the URL, on any port;
- ``10.0.0.5:8080``, ``[::1]:8080``: that IP literal on that port only.

An entry matches what the URL names (its host, and its port), never the address a host name resolves
to: to fetch http://files.corp/ that resolves to 10.1.2.3, allowlist ``files.corp``, as in Rocket.Chat.

Where this differs from Rocket.Chat, on purpose:

- CIDR ranges (``10.0.0.0/8``, ``fd00::/8``) match an IP literal in the URL within the range.
  Rocket.Chat's doc comment (checkForSsrf: "allowed hosts/IPs/CIDRs") promises them, but its matcher
  compares strings, so there a range matches nothing; an admin who writes one means to allow it.
- An IP entry and an IPv4-mapped IPv6 literal of the same address match each other (``127.0.0.1``
  allows ``http://[::ffff:127.0.0.1]/``), where Rocket.Chat compares the spellings.
- ``host:443`` matches ``https://host/``: the port compared is the one connected to. Rocket.Chat
  compares the URL's explicit port, which the URL parser drops when it is the scheme's default.
- An entry of no form above (``localhost``, ``*.corp``, a URL) is kept in Allowlist.ignored, for
  the caller to report, and matches nothing (in Rocket.Chat it matches nothing either).

Limits: max_bytes (refused when Content-Length says more, and when the bytes read exceed it), a connect
timeout, a read timeout (each of one socket operation), and the deadline: the seconds the caller has
left, which bound the name resolution, every connection and every read, together. The body is not
decoded: Accept-Encoding is identity, and the bytes counted are the bytes received.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util import make_headers

from bulk_import.domain.errors import BulkImportError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Redirects followed after the first request (Rocket.Chat's MAX_REDIRECTS).
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
CHUNK_SIZE = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Rocket.Chat's refused ranges (packages/server-fetch/src/constants.ts), with AWS's IPv6 metadata
#: address named although fc00::/7 holds it, and the deprecated IPv4-compatible ::/96 (::127.0.0.1),
#: which neither Rocket.Chat nor ipaddress' is_global refuses.
REFUSED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "100.100.100.200/32",
        "::/128",
        "::1/128",
        "::/96",
        "::ffff:0:0/96",
        "3fff::/20",
        "5f00::/16",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/32",
        "2001:20::/28",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fd00:ec2::254/128",
        "fe80::/10",
        "ff00::/8",
    )
)

# Rocket.Chat's domainPattern (constants.ts): labels of letters, digits and inner hyphens, a
# dotted name ending in a label of letters only.
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)
_METADATA_HOST = re.compile(r"metadata\.google\.internal", re.IGNORECASE)
_PORT = re.compile(r"^[0-9]{1,5}$")
_URL_SAFE = "!$%&'()*+,/:;=?@[]~"  # what a path and query may carry as it is (RFC 3986), escapes too


class SsrfValidationFailed(BulkImportError):
    """The URL, or a redirect's, names a target that is not public and not allowlisted."""

    def __init__(self) -> None:
        super().__init__("error-ssrf-validation-failed")


class FetchFailed(BulkImportError):
    """The target was allowed, but fetching it failed: connection, TLS, protocol, limits or status."""


class UnexpectedStatus(FetchFailed):
    """The final response's status is not 2xx (Rocket.Chat's wording)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Unexpected response status {status}")
        self.status = status


class ResponseTooLarge(FetchFailed):
    """The body is larger than the caller's max_bytes."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"content size over limit: {max_bytes}")
        self.max_bytes = max_bytes


class FetchTimedOut(FetchFailed):
    """A connect or read timeout, or the caller's deadline, passed."""

    def __init__(self) -> None:
        super().__init__("network timeout")


class TooManyRedirects(FetchFailed):
    """More than MAX_REDIRECTS redirects."""

    def __init__(self) -> None:
        super().__init__("maximum redirect reached")


def _canonical(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it carries, for allowlist matching."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ip_literal(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_refused_address(address: IPAddress) -> bool:
    """Whether a connection to the address needs the allowlist: not public by Rocket.Chat's ranges or
    by the IANA special-purpose registries (an IPv4-mapped address is judged as IPv6, which refuses
    every one of them, as Rocket.Chat does)."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return True  # a zone names an interface of this host: never a public target
    return not address.is_global or any(address in network for network in REFUSED_NETWORKS)


@dataclass(frozen=True)
class Allowlist:
    """Rocket.Chat's SSRF_Allowlist setting, parsed (the forms: this module's docstring)."""

    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()
    addresses: frozenset[IPAddress] = frozenset()
    address_ports: frozenset[tuple[IPAddress, int]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    #: Entries of no known form, kept for the caller to report; they match nothing.
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, setting: str | None) -> Allowlist:
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        addresses: set[IPAddress] = set()
        address_ports: set[tuple[IPAddress, int]] = set()
        networks: list[IPNetwork] = []
        ignored: list[str] = []
        for raw in re.split(r"[\n,]", setting or ""):
            entry = raw.strip()
            if not entry:
                continue
            if "/" in entry:
                if (network := _network(entry)) is not None:
                    networks.append(network)
                else:
                    ignored.append(entry)
                continue
            host, port = _split_entry(entry)
            address = _ip_literal(host) if host is not None else None
            if host is None or (port is not None and not 0 < port < 65536):
                ignored.append(entry)
            elif address is not None:
                if port is None:
                    addresses.add(_canonical(address))
                else:
                    address_ports.add((_canonical(address), port))
            elif _DOMAIN.match(host):
                if port is None:
                    hosts.add(host.lower())
                else:
                    host_ports.add((host.lower(), port))
            else:
                ignored.append(entry)
        return cls(
            frozenset(hosts),
            frozenset(host_ports),
            frozenset(addresses),
            frozenset(address_ports),
            tuple(networks),
            tuple(ignored),
        )

    def allows(self, host: str, port: int) -> bool:
        """Whether the URL's host (a host name, or an IP literal without brackets) on the port it
        connects to is allowlisted."""
        address = _ip_literal(host)
        if address is None:
            name = host.lower()
            return name in self.hosts or (name, port) in self.host_ports
        if address in self.addresses or _canonical(address) in self.addresses:
            return True
        if (address, port) in self.address_ports or (_canonical(address), port) in self.address_ports:
            return True
        return any(candidate in network for network in self.networks for candidate in {address, _canonical(address)})


def _split_entry(entry: str) -> tuple[str | None, int | None]:
    """An entry's host and port: ``[v6]:port``, ``[v6]``, bare IPv6, ``host:port`` or ``host``."""
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            return None, None
        rest = entry[close + 1 :]
        if rest == "":
            return entry[1:close], None
        if rest.startswith(":") and _PORT.match(rest[1:]):
            return entry[1:close], int(rest[1:])
        return None, None
    if entry.count(":") > 1:
        return entry, None  # bare IPv6 (no port can be told from its groups)
    host, colon, port = entry.partition(":")
    if not colon:
        return entry, None
    if _PORT.match(port):
        return host, int(port)
    return None, None


def _network(entry: str) -> IPNetwork | None:
    if "/" not in entry:
        return None
    address, _, prefix = entry.partition("/")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    try:
        return ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class Target:
    """One hop's URL, taken apart and checked: where to connect and what to say."""

    scheme: str
    host: str  # a host name (ASCII, lower case) or an IP literal without brackets
    port: int
    target: str  # path and query
    addresses: tuple[IPAddress, ...]  # checked (or allowlisted), in the resolver's order
    basic_auth: str | None  # the URL's user information, sent to this hop only

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


class _Deadline:
    """The caller's seconds, as a moment; and the watchdog that ends the sockets' waits at it (a
    read timeout bounds one socket operation only, so a server sending a byte at a time would
    otherwise keep a read going)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            self.expired = True
            raise FetchTimedOut()
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _pool_classes(
    deadline: _Deadline,
) -> tuple[type[urllib3.HTTPConnectionPool], type[urllib3.HTTPSConnectionPool]]:
    """urllib3's pools, whose connections hand each new socket to the deadline's watchdog."""

    class WatchedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    class WatchedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    class WatchedHTTPConnectionPool(urllib3.HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    return WatchedHTTPConnectionPool, WatchedHTTPSConnectionPool


def _resolve(host: str, port: int, deadline: _Deadline) -> list[IPAddress]:
    """Every address of the host name, in the resolver's order; a thread bounds the wait by the
    deadline (getaddrinfo has no timeout of its own)."""
    answer: dict[str, Any] = {}

    def lookup() -> None:
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            answer["error"] = error

    thread = threading.Thread(target=lookup, name="public-url-resolve", daemon=True)
    thread.start()
    thread.join(deadline.remaining())
    if thread.is_alive():
        raise FetchTimedOut()
    if "error" in answer:
        raise SsrfValidationFailed()  # Rocket.Chat answers an unresolvable host so
    found: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in answer["infos"]:
        address = _ip_literal(str(sockaddr[0]))
        if address is None:
            raise SsrfValidationFailed()
        if address not in found:
            found.append(address)
    return found


def check_url(url: str, allowlist: Allowlist, seconds: float = CONNECT_TIMEOUT) -> Target:
    """Take a URL apart, resolve its host once and check every address (within `seconds`); raise
    SsrfValidationFailed for a refused target. fetch checks every hop so; a caller may check first
    to refuse before it records anything, as Rocket.Chat does."""
    return _check(url, allowlist, _Deadline(seconds))


def _check(url: str, allowlist: Allowlist, deadline: _Deadline) -> Target:
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError:
        raise SsrfValidationFailed() from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise SsrfValidationFailed()
    port = DEFAULT_PORTS[scheme] if port_given is None else port_given
    if port == 0:
        raise SsrfValidationFailed()
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise SsrfValidationFailed() from None
    literal = _ip_literal(host)
    if literal is None and not _DOMAIN.match(host):
        raise SsrfValidationFailed()
    allowed = allowlist.allows(host, port)
    if literal is not None:
        addresses = [literal]
    else:
        if not allowed and _METADATA_HOST.search(host):
            raise SsrfValidationFailed()
        addresses = _resolve(host, port, deadline)
    if not addresses or (not allowed and any(is_refused_address(address) for address in addresses)):
        raise SsrfValidationFailed()
    basic_auth = None
    if parts.username is not None:
        basic_auth = make_headers(basic_auth=f"{parts.username}:{parts.password or ''}")["authorization"]
    # Spaces, control characters and non-ASCII percent-encoded as a browser's URL parser would: sent as
    # they are, they would end the request line early or be refused by http.client.
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
    return Target(scheme, host, port, target, tuple(addresses), basic_auth)


@dataclass
class Download:
    """A response being read: its status and headers, and its body in chunks (read once)."""

    url: str  # the final URL, after redirects
    status: int
    headers: Mapping[str, str]  # names in lower case
    _read: Callable[[int], Iterator[bytes]] = field(repr=False)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def content_length(self) -> int | None:
        """What Content-Length says; None when absent (a chunked body) or not a number."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The body's bytes as received, at most `size` at a time; FetchFailed (a subclass) when the
        limits are passed or the connection breaks."""
        return self._read(size)


@contextlib.contextmanager
def fetch(
    url: str,
    allowlist: Allowlist,
    max_bytes: int,
    seconds: float,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> Iterator[Download]:
    """GET a public URL (or an allowlisted one), following redirects; yield the final 2xx response,
    whose body the caller reads in chunks within the block. `seconds` is the time the caller has
    left: everything ends by then (FetchTimedOut). Raises SsrfValidationFailed or FetchFailed."""
    with _Deadline(seconds) as deadline:
        pools: list[urllib3.HTTPConnectionPool] = []
        response: urllib3.BaseHTTPResponse | None = None
        try:
            try:
                response, final_url = _follow(url, allowlist, deadline, pools, connect_timeout, read_timeout)
            except HTTPError as error:
                raise _failure(error, deadline) from error
            download = Download(
                url=final_url,
                status=response.status,
                headers={name.lower(): value for name, value in response.headers.items()},
                _read=_reader(response, max_bytes, deadline),
            )
            if download.content_length is not None and download.content_length > max_bytes:
                raise ResponseTooLarge(max_bytes)
            yield download
        finally:
            if response is not None:
                response.close()
            for pool in pools:
                pool.close()


def _follow(
    url: str,
    allowlist: Allowlist,
    deadline: _Deadline,
    pools: list[urllib3.HTTPConnectionPool],
    connect_timeout: float,
    read_timeout: float,
) -> tuple[urllib3.BaseHTTPResponse, str]:
    """The final response and its URL, each hop checked before it is requested."""
    pool_classes = _pool_classes(deadline)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        target = _check(current, allowlist, deadline)
        response = _request(target, deadline, pools, pool_classes, connect_timeout, read_timeout)
        location = response.headers.get("location")
        if response.status in REDIRECT_STATUSES and location:
            response.close()
            if hop == MAX_REDIRECTS:
                raise TooManyRedirects()
            current = urljoin(current, location.strip())
            continue
        if not 200 <= response.status < 300:
            response.close()
            raise UnexpectedStatus(response.status)
        return response, current
    raise AssertionError("unreachable: the last hop returns or raises")


def _request(
    target: Target,
    deadline: _Deadline,
    pools: list[urllib3.HTTPConnectionPool],
    pool_classes: tuple[type[urllib3.HTTPConnectionPool], type[urllib3.HTTPSConnectionPool]],
    connect_timeout: float,
    read_timeout: float,
) -> urllib3.BaseHTTPResponse:
    """Send the GET to the first of the checked addresses that accepts a connection."""
    headers = {"Host": target.host_header, "Accept-Encoding": "identity"}
    if target.basic_auth:
        headers["Authorization"] = target.basic_auth
    last_error: ConnectTimeoutError | None = None
    for address in target.addresses:
        left = deadline.remaining()
        timeout = urllib3.Timeout(connect=min(connect_timeout, left), read=min(read_timeout, left))
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = pool_classes[1](
                host=str(address),
                port=target.port,
                timeout=timeout,
                retries=False,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                # The name the URL gave, not the address: the server name sent (SNI) and the name the
                # certificate must carry.
                server_hostname=target.host,
                assert_hostname=target.host,
            )
        else:
            pool = pool_classes[0](host=str(address), port=target.port, timeout=timeout, retries=False, maxsize=1)
        pools.append(pool)
        try:
            return pool.urlopen(
                "GET",
                target.target,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                release_conn=False,
            )
        except ConnectTimeoutError as error:  # NewConnectionError too: try the host's next address
            last_error = error
    assert last_error is not None  # a Target has at least one address
    raise last_error


def _reader(
    response: urllib3.BaseHTTPResponse, max_bytes: int, deadline: _Deadline
) -> Callable[[int], Iterator[bytes]]:
    def read(size: int) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in response.stream(size, decode_content=False):
                received += len(chunk)
                if received > max_bytes:
                    raise ResponseTooLarge(max_bytes)
                deadline.remaining()
                yield chunk
        except HTTPError as error:
            raise _failure(error, deadline) from error
        # The watchdog ends a read by shutting its socket down: a body without a length then ends
        # early rather than in error.
        if deadline.expired:
            raise FetchTimedOut()

    return read


def _failure(error: HTTPError, deadline: _Deadline) -> FetchFailed:
    timed_out = isinstance(error, ReadTimeoutError) or (
        isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError)
    )
    if deadline.expired or timed_out:
        return FetchTimedOut()
    # A failed connection's own message names urllib3's connection object, and a dropped one's is a
    # tuple with the socket's error: the socket's error says why.
    cause: BaseException = error
    if isinstance(error, NewConnectionError) and error.__cause__ is not None:
        cause = error.__cause__
    elif isinstance(error, ProtocolError) and error.args and isinstance(error.args[-1], OSError):
        cause = error.args[-1]
    return FetchFailed(f"request failed, reason: {str(cause) or type(error).__name__}")


@dataclass(frozen=True)
class PublicDownloads:
    """What a function may download: where to (the allowlist), how much (`max_bytes`), and by when
    (`seconds_left()`, the time its invocation has left for it)."""

    allowlist: Allowlist
    max_bytes: int
    seconds_left: Callable[[], float]

    def open(self, url: str) -> contextlib.AbstractContextManager[Download]:
        """fetch, within these limits."""
        return fetch(url, self.allowlist, self.max_bytes, self.seconds_left())

    def check(self, url: str) -> None:
        """Requests the URL as `open` does and reads none of its body: raises as fetch would (a
        refused target, a failed connection, a status other than 2xx, a length over the limit)."""
        with self.open(url):
            pass

"""The presigned URLs of a multipart upload's parts, signed as botocore signs them, without botocore's
work per URL.

A 12 GiB upload has 192 parts, each with its own presigned UploadPart URL. botocore builds each URL
from scratch: it serializes the request, resolves the endpoint and derives the SigV4 signing key
again, 28 ms of CPU for 192 URLs (on a cold start of ~165 ms, issue 10). The URLs differ only in
their part number, and the signing key depends only on the secret, the date, the region and the
service. So botocore presigns part 1, and each other part is that URL with its own part number,
signed again with the key derived once (SigV4's query signing: docs.aws.amazon.com/AmazonS3/latest/
API/sigv4-query-string-auth.html, as botocore.auth.S3SigV4QueryAuth implements it).

Part 1 is signed both ways first: if the signatures differ (another signing scheme, a format this
code does not know), every part is presigned by botocore, as before.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

_ALGORITHM = "AWS4-HMAC-SHA256"
_SIGNATURE = "X-Amz-Signature"


class PartUrls:
    """Signs the URL of each part like `first`, botocore's SigV4 presigned URL of part 1 (check
    `signable` first)."""

    def __init__(self, first: str, secret_key: str) -> None:
        parts = urlsplit(first)
        # The query's names and values as botocore encoded them: SigV4 signs them so, sorted.
        self.query = dict(pair.partition("=")[::2] for pair in parts.query.split("&"))
        self.query.pop(_SIGNATURE, None)
        self.prefix = first.partition("?")[0]
        # S3 signs the path as sent (no normalization) and, in a presigned URL, the host alone.
        self.path, self.host = parts.path, _host(parts.hostname or "", parts.port, parts.scheme)
        # The scope: access key, date, region, service, "aws4_request".
        self.scope = self.query.get("X-Amz-Credential", "").split("%2F")[1:]
        self.signable = (
            self.query.get("X-Amz-Algorithm") == _ALGORITHM
            and self.query.get("X-Amz-SignedHeaders") == "host"
            and len(self.scope) == 4
        )
        self.key = f"AWS4{secret_key}".encode()
        for part in self.scope:
            self.key = hmac.new(self.key, part.encode(), hashlib.sha256).digest()

    def url(self, part_number: int) -> str:
        canonical_query = "&".join(
            f"{name}={value}" for name, value in sorted((self.query | {"partNumber": str(part_number)}).items())
        )
        canonical_request = "\n".join(
            ("PUT", self.path, canonical_query, f"host:{self.host}", "", "host", "UNSIGNED-PAYLOAD")
        )
        string_to_sign = "\n".join(
            (
                _ALGORITHM,
                self.query["X-Amz-Date"],
                "/".join(self.scope),
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            )
        )
        signature = hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self.prefix}?{canonical_query}&{_SIGNATURE}={signature}"


def part_urls(count: int, presign: Callable[[int], str], secret_key: str | None) -> list[str]:
    """The URLs of parts 1..count: `presign(n)` is botocore's URL of part n."""
    first = presign(1)
    signer = PartUrls(first, secret_key) if secret_key else None
    if signer is None or not signer.signable or _signature(signer.url(1)) != _signature(first):
        return [first, *(presign(number) for number in range(2, count + 1))]
    return [first, *(signer.url(number) for number in range(2, count + 1))]


def _signature(url: str) -> str:
    return url.rpartition(f"{_SIGNATURE}=")[2]


def _host(hostname: str, port: int | None, scheme: str) -> str:
    """The host header botocore signs: without the scheme's default port."""
    return hostname if port is None or port == {"http": 80, "https": 443}.get(scheme) else f"{hostname}:{port}"

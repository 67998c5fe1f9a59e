"""The bearer credential a /v1 request presents (`Authorization: Bearer <token>`)."""

from __future__ import annotations

from bulk_import.api.common import ProxyRequest
from bulk_import.domain.errors import InvalidCredential


def bearer_token(event: ProxyRequest) -> str | None:
    """The bearer token of the Authorization header; None when there is no header, InvalidCredential
    for another scheme or an empty token."""
    header = event.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredential
    return token.strip()

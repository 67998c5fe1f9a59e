"""Personium's WebDAV on the __snapshot collection: what PROPFIND reads and answers (a 207
multistatus as personium-core's DavRsCmp writes it, in the shape of the API reference's sample), and
the Range header as its RangeHeaderHandler reads it.

The request's XML is read with the standard library's parser, whose expat refuses the entity
expansions of a "billion laughs" document (Python 3.11+ bundles expat 2.4 or later).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime

from bulk_import.api.personium import (
    INFINITE_DEPTH,
    INVALID_DEPTH,
    NOT_IMPLEMENTED,
    RANGE_NOT_SATISFIABLE,
    XML_ERROR,
    PersoniumRequestError,
)
from bulk_import.domain.snapshot_files import SnapshotFile

DAV = "DAV:"
PERSONIUM = "urn:x-personium:xmlns"
ET.register_namespace("p", PERSONIUM)

#: RangeHeaderHandler.BYTE_RANGE_SPEC_MAX: a Range of more specs is read as no Range at all.
_MOST_RANGE_SPECS = 13
_BYTE_RANGES = re.compile(r"^bytes\s*=\s*(.+)$", re.DOTALL)
_BYTE_RANGE_SPEC = re.compile(r"^([^-]*)-([^-]*)$", re.DOTALL)


#: The API's BinaryMediaTypes (template.yaml): API Gateway passes a request body of these types to
#: the function base64-encoded, and decodes a base64-encoded answer into bytes only for a request
#: whose first Accept is one of them (otherwise the client would get the base64 text).
BINARY_MEDIA_TYPES = ("application/zip", "application/octet-stream")


def answered_as_bytes(accept: str | None) -> bool:
    """Whether API Gateway hands the client an answer of bytes for a request with this Accept."""
    first = (accept or "").split(",")[0].split(";")[0].strip().lower()
    return first in BINARY_MEDIA_TYPES


def propfind_depth(depth: str | None) -> int:
    """The Depth of a PROPFIND: 0 or 1, as DavRsCmp.doPropfind accepts; infinity is refused with 403."""
    if depth == "infinity":
        raise PersoniumRequestError(INFINITE_DEPTH)
    if depth not in ("0", "1"):
        raise PersoniumRequestError(INVALID_DEPTH, "null" if depth is None else depth)
    return int(depth)


def check_propfind_body(body: str | None) -> None:
    """A PROPFIND body, when there is one, must be a DAV: propfind (any content: Personium answers
    every property whatever it asks, as allprop)."""
    if not body:
        return
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise PersoniumRequestError(XML_ERROR) from exc
    if root.tag != f"{{{DAV}}}propfind":
        raise PersoniumRequestError(XML_ERROR)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes a Range header asks for, first and last included; None for the whole file (no
    Range, or one Personium does not read: another unit, a malformed spec, more than 13 specs).
    A Range whose every spec starts past the end: 416; of several specs that can be served: 501,
    as Personium, which sends no multipart answer."""
    ranges = _BYTE_RANGES.match(header or "")
    if ranges is None:
        return None
    specs = ranges.group(1).split(",")
    if len(specs) > _MOST_RANGE_SPECS:
        return None
    served = []
    for text in specs:
        spec = _byte_range_spec(text, size)
        if spec is None:
            return None
        if spec[0] <= size - 1:
            served.append(spec)
    if not served:
        raise PersoniumRequestError(RANGE_NOT_SATISFIABLE)
    if len(served) > 1:
        raise PersoniumRequestError(NOT_IMPLEMENTED, "Range-MultiPart")
    return served[0]


def _byte_range_spec(text: str, size: int) -> tuple[int, int] | None:
    """ByteRangeSpec.parse: `first-last`, `first-` or `-suffix`; None when Personium reads none."""
    spec = _BYTE_RANGE_SPEC.match(text)
    if spec is None:
        return None
    first_text, last_text = spec.group(1).strip(), spec.group(2).strip()
    if not first_text and not last_text:
        return None
    try:
        last = int(last_text) if last_text else size - 1
        if not first_text:  # the last `last` bytes
            first, last = max(size - last, 0), size - 1
        else:
            first = int(first_text)
    except ValueError:
        return None
    if first > last:
        return None
    return first, min(last, size - 1)


def content_range(first: int, last: int, size: int) -> str:
    return f"bytes {first}-{last}/{size}"


def multistatus(responses: list[ET.Element]) -> str:
    """The 207 body: the responses in a DAV: multistatus, with the XML declaration JAXB writes."""
    root = ET.Element(f"{{{DAV}}}multistatus")
    root.extend(responses)
    body = ET.tostring(root, encoding="unicode", default_namespace=DAV)
    return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + body


def file_response(href: str, file: SnapshotFile) -> ET.Element:
    """A file's properties: its dates, an empty resourcetype, its length and type, and its ACL
    (empty: a snapshot file has none of its own)."""
    return _response(
        href,
        file.created_at,
        file.updated_at,
        [
            ET.Element(f"{{{DAV}}}resourcetype"),
            _text("getcontentlength", str(file.size)),
            _text("getcontenttype", file.content_type),
        ],
    )


def collection_response(href: str, created_at: datetime, cell_status: str) -> ET.Element:
    """The collection's properties: those of its cell's root (Personium's CellSnapshotCellCmp is the
    cell's), a collection with the cell's status."""
    resource_type = ET.Element(f"{{{DAV}}}resourcetype")
    ET.SubElement(resource_type, f"{{{DAV}}}collection")
    status = ET.Element(f"{{{PERSONIUM}}}cellstatus")
    status.text = cell_status
    return _response(href, created_at, created_at, [resource_type, status])


def _response(href: str, created_at: datetime, updated_at: datetime, properties: list[ET.Element]) -> ET.Element:
    response = ET.Element(f"{{{DAV}}}response")
    _sub_text(response, "href", href)
    propstat = ET.SubElement(response, f"{{{DAV}}}propstat")
    prop = ET.SubElement(propstat, f"{{{DAV}}}prop")
    prop.append(_text("creationdate", creation_date(created_at)))
    prop.append(_text("getlastmodified", format_datetime(updated_at.astimezone(UTC), usegmt=True)))
    prop.extend(properties)
    ET.SubElement(prop, f"{{{DAV}}}acl")
    _sub_text(propstat, "status", "HTTP/1.1 200 OK")
    return response


def creation_date(moment: datetime) -> str:
    """WebDAV's creationdate as Personium writes it: 2017-02-15T01:52:34.635+0000."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _text(name: str, text: str) -> ET.Element:
    element = ET.Element(f"{{{DAV}}}{name}")
    element.text = text
    return element


def _sub_text(parent: ET.Element, name: str, text: str) -> None:
    parent.append(_text(name, text))

"""Uploads of import files of any size straight to S3, through presigned URLs.

Up to 5 GiB (S3's limit for one PUT) one URL; above, a multipart upload with one URL per part:
32 parts, of whole MiB, until parts reach 5 GiB (S3's largest; files over 160 GiB), then more, at
most 1,000 so that they fit in one response: files up to 1,000 × 5 GiB (4.9 TiB; S3's largest object
is 5 TiB). Few parts keep the route within its cold-start budget: botocore presigns a URL in about
0.4 ms of CPU (docs/benchmarks.md, "Presigning"). Nothing here knows HTTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from bulk_import.dal.s3 import ImportFiles, new_upload_id, upload_prefix
from bulk_import.domain.operation import utc_now
from bulk_import.logic.imports.errors import UploadNotFound

SINGLE_UPLOAD_LIMIT = 5 * 1024**3
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 1000
#: The parts of a file up to 32 × MAX_PART_SIZE.
USUAL_PARTS = 32
MAX_UPLOAD_SIZE = MAX_PARTS * MAX_PART_SIZE
LINK_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class Upload:
    upload_id: str
    expires_at: datetime
    #: One PUT of the whole file ...
    url: str | None = None
    #: ... or one PUT per part, in order, each of part_size bytes (the last one shorter).
    part_urls: list[str] | None = None
    part_size: int | None = None


def part_size_for(size: int) -> int:
    """The smallest whole number of MiB, at most 5 GiB, that splits `size` (over 5 GiB: parts of
    over 160 MiB, far above S3's 5 MiB) into at most 32 parts, or into as few as 5 GiB parts can."""
    return min(MAX_PART_SIZE, math.ceil(size / USUAL_PARTS / 1024**2) * 1024**2)


def create_upload(files: ImportFiles, cell: str, filename: str, size: int | None) -> Upload:
    upload_id = new_upload_id()
    key = upload_prefix(cell, upload_id) + filename
    expires_at, seconds = utc_now() + LINK_LIFETIME, int(LINK_LIFETIME.total_seconds())
    if size is None or size <= SINGLE_UPLOAD_LIMIT:
        return Upload(upload_id, expires_at, url=files.presigned_put(key, seconds))
    part_size = part_size_for(size)
    multipart_id = files.start_multipart(key)
    urls = files.presigned_parts(key, multipart_id, math.ceil(size / part_size), seconds)
    return Upload(upload_id, expires_at, part_urls=urls, part_size=part_size)


def complete_upload(files: ImportFiles, cell: str, upload_id: str, etags: list[str]) -> str:
    """Finishes a multipart upload from its parts' ETags; returns the file name."""
    pending = files.pending_multipart(upload_prefix(cell, upload_id))
    if pending is None:
        raise UploadNotFound(upload_id)
    key, multipart_id = pending
    files.complete_multipart(key, multipart_id, etags)
    return key.rpartition("/")[2]

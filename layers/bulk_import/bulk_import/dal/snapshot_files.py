"""A cell's __snapshot collection in S3: each file one object under `cells/<cell>/snapshots/`, and what
WebDAV says of it (version, creation and update times) in that object's metadata, so that the bytes
and what describes them are written in one request. Knows nothing of HTTP.

A file put straight into the bucket (the demo's sample, an operator's upload) has no such metadata: it
reads as version 1, created and updated when S3 last wrote it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bulk_import.concurrency import map_all
from bulk_import.dal.s3 import REQUESTS, ImportFiles, snapshot_file_key, snapshots_prefix
from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.snapshot_files import DEFAULT_CONTENT_TYPE, SnapshotFile, epoch_millis, from_epoch_millis

#: The object metadata that holds what WebDAV says of a file (x-amz-meta-*).
VERSION, CREATED, UPDATED = "dav-version", "dav-created", "dav-updated"
#: S3's answers to a conditional request whose condition no longer holds: another write came first
#: (412), or is landing at the same time (409).
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict"}


class SnapshotChanged(BulkImportError):
    """The file is no longer the version a conditional request named: another write came between."""


class SnapshotFiles:
    def __init__(self, files: ImportFiles) -> None:
        self.files = files

    def find(self, cell: str, name: str) -> SnapshotFile | None:
        """The file, None if the collection has none of that name. Listed first, then HEADed: S3
        answers a HEAD of a missing key with 403 to a caller that may not list the whole bucket."""
        return None if self.files.etag(snapshot_file_key(cell, name)) is None else self.find_listed(cell, name)

    def all(self, cell: str) -> list[SnapshotFile]:
        """Every file of the collection, by name (a ListObjectsV2 per 1,000, then a HEAD each, eight
        at a time)."""
        prefix = snapshots_prefix(cell)
        paginator = self.files.client.get_paginator("list_objects_v2")
        names = [
            listed["Key"][len(prefix) :]
            for page in paginator.paginate(Bucket=self.files.bucket, Prefix=prefix)
            for listed in page.get("Contents", [])
        ]
        found = map_all(REQUESTS, lambda name: self.find_listed(cell, name), sorted(names))
        return [file for file in found if file is not None]

    def find_listed(self, cell: str, name: str) -> SnapshotFile | None:
        """A file a listing showed (one HEAD), None if it has gone since."""
        try:
            return self._head(cell, name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return None
            raise

    def write(self, cell: str, file: SnapshotFile, body: bytes, replaces: SnapshotFile | None) -> SnapshotFile:
        """Stores `file` with `body`, if the collection still holds `replaces` (or, given None, no file
        of that name): one conditional PutObject, else SnapshotChanged. Returns `file` with the
        revision S3 gave it."""
        condition = {"IfNoneMatch": "*"} if replaces is None else {"IfMatch": replaces.revision}
        try:
            written = self.files.client.put_object(
                Bucket=self.files.bucket,
                Key=snapshot_file_key(cell, file.name),
                Body=body,
                ContentType=file.content_type,
                Metadata={
                    VERSION: str(file.version),
                    CREATED: str(epoch_millis(file.created_at)),
                    UPDATED: str(epoch_millis(file.updated_at)),
                },
                **condition,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _CONDITION_FAILED:
                raise SnapshotChanged(file.name) from exc
            raise
        return replace(file, revision=written["ETag"])

    def read(self, cell: str, file: SnapshotFile, first: int | None = None, last: int | None = None) -> bytes:
        """The file's bytes, `first` to `last` included if given, if it is still that version (one
        GetObject), else SnapshotChanged."""
        arguments: dict[str, Any] = {"IfMatch": file.revision}
        if first is not None:
            arguments["Range"] = f"bytes={first}-{'' if last is None else last}"
        try:
            answer = self.files.client.get_object(
                Bucket=self.files.bucket, Key=snapshot_file_key(cell, file.name), **arguments
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _CONDITION_FAILED:
                raise SnapshotChanged(file.name) from exc
            raise
        return bytes(answer["Body"].read())

    def download_url(self, cell: str, file: SnapshotFile, expires_in: int) -> str:
        """A URL that serves the file's bytes for `expires_in` seconds, with its Content-Type."""
        return self.files.client.generate_presigned_url(
            "get_object",
            ExpiresIn=expires_in,
            Params={
                "Bucket": self.files.bucket,
                "Key": snapshot_file_key(cell, file.name),
                "ResponseContentType": file.content_type,
            },
        )

    def delete(self, cell: str, name: str) -> None:
        self.files.delete([snapshot_file_key(cell, name)])

    def _head(self, cell: str, name: str) -> SnapshotFile:
        answer = self.files.client.head_object(Bucket=self.files.bucket, Key=snapshot_file_key(cell, name))
        metadata = answer.get("Metadata") or {}
        written: datetime = answer["LastModified"]
        return SnapshotFile(
            name=name,
            size=answer["ContentLength"],
            content_type=answer.get("ContentType") or DEFAULT_CONTENT_TYPE,
            version=int(metadata.get(VERSION, 1)),
            created_at=_moment(metadata.get(CREATED), written),
            updated_at=_moment(metadata.get(UPDATED), written),
            revision=answer["ETag"],
        )


def _moment(millis: str | None, otherwise: datetime) -> datetime:
    return from_epoch_millis(int(millis)) if millis else otherwise

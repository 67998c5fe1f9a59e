"""S3: snapshot files, uploaded inputs and the worker's batch manifests. Knows nothing of HTTP."""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any, BinaryIO, Callable, Iterable

import boto3
from botocore.exceptions import ClientError

from bulk_import.settings import get_import_settings

_READ_AHEAD = 8 * 1024 * 1024  # one ranged GET per 8 MiB read: few requests, bounded memory


def snapshot_key(cell: str, name: str) -> str:
    """Where Personium's snapshot `<name>.zip` of a cell is kept (its __snapshot collection)."""
    return f"cells/{cell}/snapshots/{name}.zip"


def manifest_key(operation_id: str, record_type: str) -> str:
    return f"manifests/{operation_id}/{record_type}.json"


class S3ObjectReader(io.RawIOBase):
    """A seekable, read-only view of an S3 object through ranged GETs, so zip files and resumed
    reads work on objects of any size without holding them in memory."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size or not len(buffer):
            return 0
        end = min(self._position + len(buffer), self._size) - 1
        body = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end}")
        data = body["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


class ImportFiles:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def opener(self, key: str) -> Callable[[], BinaryIO]:
        return lambda: io.BufferedReader(S3ObjectReader(self.client, self.bucket, key), buffer_size=_READ_AHEAD)

    def put(self, key: str, body: bytes | BinaryIO) -> None:
        self.client.upload_fileobj(io.BytesIO(body) if isinstance(body, bytes) else body, self.bucket, key)

    def write_manifest(self, operation_id: str, record_type: str, descriptors: Iterable[dict[str, Any]]) -> str:
        """A JSON array of batch descriptors, the Distributed Map's item source (JSONL and ItemBatcher
        would be smaller but moto's interpreter supports neither)."""
        key = manifest_key(operation_id, record_type)
        body = io.BytesIO()
        body.write(b"[")
        for index, descriptor in enumerate(descriptors):
            body.write((b"," if index else b"") + json.dumps(descriptor, separators=(",", ":")).encode())
        body.write(b"]")
        body.seek(0)
        self.put(key, body)
        return key

    def delete_manifests(self, operation_id: str, record_types: Iterable[str]) -> None:
        self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": manifest_key(operation_id, t)} for t in record_types], "Quiet": True},
        )


@lru_cache(maxsize=1)
def default_files() -> ImportFiles:
    return ImportFiles(get_import_settings().import_bucket, boto3.client("s3"))

"""S3: snapshot files, uploaded inputs, the staged records (one object per 20 batches) and the worker's
batch manifests. Knows nothing of HTTP."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import IO, Any, BinaryIO, cast

from botocore.config import Config
from botocore.exceptions import ClientError

from bulk_import.concurrency import THREAD_NAME_PREFIX, map_all
from bulk_import.dal import aws_clients
from bulk_import.domain.errors import BulkImportError
from bulk_import.domain.records.staged import StagedRecord
from bulk_import.settings import get_import_settings

#: s3transfer's TransferConfig.multipart_threshold: below it, upload_fileobj makes one PutObject.
_MULTIPART_THRESHOLD = 8 * 1024 * 1024
_READ_AHEAD = 8 * 1024 * 1024  # one ranged GET per 8 MiB read: few requests, bounded memory
#: What S3ObjectReader reads first, from the end: as much as zipfile reads there to find a zip's
#: end record behind its longest comment, and with it, up to some thousand members, the directory.
TAIL_BYTES = (1 << 16) + 22
# Created once per process: batch objects are written and read several at a time.
REQUESTS = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"{THREAD_NAME_PREFIX}files")


def snapshot_key(cell: str, name: str) -> str:
    """Where Personium's snapshot `<name>.zip` of a cell is kept: the file `<name>.zip` of its
    __snapshot collection."""
    return snapshot_file_key(cell, f"{name}.zip")


def snapshots_prefix(cell: str) -> str:
    """Under which the files of a cell's __snapshot collection are kept (dal/snapshot_files.py)."""
    return f"cells/{cell}/snapshots/"


def snapshot_file_key(cell: str, file_name: str) -> str:
    return snapshots_prefix(cell) + file_name


def new_upload_id() -> str:
    """A new upload's (or export's) name in its key: 96 random bits."""
    return os.urandom(12).hex()


def upload_prefix(cell: str, upload_id: str) -> str:
    """Where an upload's file lands: uploads/<cell>/<upload id>/<file name> (expires, template.yaml)."""
    return f"uploads/{cell}/{upload_id}/"


def downloaded_file_key(cell: str, kind: str, identity: str, index: int, name: str) -> str:
    """Where a download of an imported entry is kept (downloadPendingFiles, downloadPendingAvatars):
    one key per entry and download, so that every attempt writes the same object; the entry's
    identity hashed (it may hold any character), the file's name last (its last 255 characters)."""
    entry = hashlib.sha256(f"{kind}#{identity}".encode()).hexdigest()[:32]
    return f"files/{cell}/{kind}/{entry}/{index}/{name.replace('/', '_')[-255:]}"


def corrections_key(cell: str, operation_id: str) -> str:
    """The corrected records a retry operation imports instead of its parent's failed ones."""
    return f"retries/{cell}/{operation_id}.json"


def errors_export_key(cell: str, operation_id: str, export_id: str) -> str:
    return f"exports/{cell}/{operation_id}/{export_id}-errors.csv"


def manifest_key(operation_id: str, record_type: str) -> str:
    return f"manifests/{operation_id}/{record_type}.json"


#: Consecutive batches whose staged records share one S3 object (JSON Lines). A PUT costs as much as
#: 12.5 GETs: one object per batch of 50 cost $0.10 per million users, a sixth of the floor
#: (docs/benchmarks.md); a batch reads its group's object (~1,000 records) and keeps its own.
STAGED_BATCHES_PER_OBJECT = 20


def staged_object_key(operation_id: str, record_type: str, index: int) -> str:
    """Where the `index`th group of an operation's staged records of one type is (batches
    index × STAGED_BATCHES_PER_OBJECT onwards; JSON Lines; expires, template.yaml)."""
    return f"staging/{operation_id}/{record_type}/{index:08d}.jsonl"


def selection_key(operation_id: str) -> str:
    """What Rocket.Chat's startImport selected of an operation's staged records (its batches read it;
    expires with them)."""
    return f"staging/{operation_id}/selection.json"


def staged_object_of(batch: int) -> int:
    return batch // STAGED_BATCHES_PER_OBJECT


def results_prefix(operation_id: str) -> str:
    """Where the Distributed Maps' ResultWriter puts the children's results (expires, template.yaml)."""
    return f"results/{operation_id}"


class StagedBatchMissing(BulkImportError):
    """A batch's staged records are gone (expired with their operation): nothing is imported or
    retried from a guess."""


#: S3's refusals of a CompleteMultipartUpload that name the client's list of parts.
_REJECTED_PARTS = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})


class PartsRejected(BulkImportError):
    """S3 refused to complete a multipart upload from the parts listed: why, in S3's words."""


class StoredObjectMissing(BulkImportError):
    """An object just written is not there."""


class SourceChanged(BulkImportError):
    """The input file was replaced while it was being imported: the import read one version only."""


class S3ObjectReader(io.RawIOBase):
    """A seekable, read-only view of an S3 object through ranged GETs, so zip files and resumed
    reads work on objects of any size without holding them in memory. With an `etag`, every read
    is of that version (If-Match): a file replaced mid-import raises SourceChanged instead of
    mixing two versions. (Not Powertools' streaming S3Object: it takes If-Match, but turning its
    412 into SourceChanged would wrap each of its methods, more code than this reader.)

    Its first request reads the object's last TAIL_BYTES, which tells its size too (no HEAD), and
    keeps them: a zip's directory is there, so telling a zip and listing it costs that one GET, and
    a smaller file is read whole by it."""

    def __init__(self, client: Any, bucket: str, key: str, etag: str | None = None) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._pinned = {"IfMatch": etag} if etag else {}
        try:
            tail = self._request("get_object", Range=f"bytes=-{TAIL_BYTES}")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidRange":
                raise
            tail = self._request("get_object")  # an empty object has no range to read
        content_range = tail.get("ContentRange")  # "bytes <first>-<last>/<size>"
        self._tail = tail["Body"].read()
        self._size = int(content_range.rpartition("/")[2]) if content_range else len(self._tail)
        self._tail_start = self._size - len(self._tail)
        self._position = 0

    def _request(self, operation: str, **arguments: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, operation)(Bucket=self._bucket, Key=self._key, **self._pinned, **arguments)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                raise SourceChanged(f"{self._key.rpartition('/')[2]} changed during the import") from exc
            raise

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
        if self._position >= self._tail_start:
            start = self._position - self._tail_start
            data = self._tail[start : start + len(buffer)]
        else:  # up to the tail at most: the tail is read already
            end = min(self._position + len(buffer), self._tail_start) - 1
            data = self._request("get_object", Range=f"bytes={self._position}-{end}")["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


class ImportFiles:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    def etag(self, key: str) -> str | None:
        """The ETag of the object's current version, None if there is no such object. Listed, not
        HEADed: S3 answers a HEAD of a missing key with 403 to a caller that may not list the whole
        bucket, and the functions may list only the prefixes they read (template.yaml)."""
        found = self.first_object(key)
        return found[1] if found is not None and found[0] == key else None

    def opener(self, key: str, etag: str | None = None) -> Callable[[], BinaryIO]:
        return lambda: io.BufferedReader(S3ObjectReader(self.client, self.bucket, key, etag), buffer_size=_READ_AHEAD)

    def put(self, key: str, body: bytes) -> str:
        """Writes the object in one PutObject; returns its ETag (what an import is pinned to)."""
        return cast(str, self.client.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"])

    def upload(self, key: str, stream: IO[bytes]) -> None:
        """Writes a seekable stream: in one PutObject up to the transfer manager's multipart
        threshold (8 MiB), as the manager itself would, without starting its threads; larger, through
        the manager (multipart)."""
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        if size <= _MULTIPART_THRESHOLD:
            self.put(key, stream.read())
        else:
            self.client.upload_fileobj(stream, self.bucket, key)

    def upload_chunks(self, key: str, chunks: Iterable[bytes]) -> str:
        """Writes a stream of unknown length as it arrives (a download): the transfer manager reads
        it part by part, in one PutObject if it ends below the multipart threshold, else multipart
        (aborted if the stream fails). Returns the object's ETag."""
        # Buffered: a buffered read of a part's size returns the whole part (parts but the last are
        # at least 5 MiB), where the raw stream answers a chunk at a time.
        self.client.upload_fileobj(io.BufferedReader(_ChunkStream(chunks)), self.bucket, key)
        etag = self.etag(key)
        if etag is None:  # the transfer manager's threads reported no failure, and wrote nothing
            raise StoredObjectMissing(key)
        return etag

    def read_json(self, key: str) -> Any:
        return json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def first_object(self, prefix: str) -> tuple[str, str] | None:
        """The key and ETag of the first object under `prefix` (one ListObjectsV2), None if none."""
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return (listing["Contents"][0]["Key"], listing["Contents"][0]["ETag"]) if listing.get("KeyCount") else None

    def presigned_put(self, key: str, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    def presigned_get(self, key: str, expires_in: int, download_name: str) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            ExpiresIn=expires_in,
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{download_name}"',
            },
        )

    def start_multipart(self, key: str) -> str:
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]

    def presigned_part(self, key: str, multipart_id: str, part_number: int, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "upload_part",
            ExpiresIn=expires_in,
            Params={"Bucket": self.bucket, "Key": key, "UploadId": multipart_id, "PartNumber": part_number},
        )

    def presigned_parts(self, key: str, multipart_id: str, count: int, expires_in: int) -> list[str]:
        """The presigned URLs of parts 1..count, each botocore's: about 0.4 ms of CPU a part, 1,000
        parts more than the floor's whole cold start (bench/presign.py)."""
        return [self.presigned_part(key, multipart_id, number, expires_in) for number in range(1, count + 1)]

    def pending_multipart(self, prefix: str) -> tuple[str, str] | None:
        """(key, multipart upload id) of an unfinished multipart upload under `prefix`."""
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", [])
        return (uploads[0]["Key"], uploads[0]["UploadId"]) if uploads else None

    def complete_multipart(self, key: str, multipart_id: str, etags: list[str]) -> None:
        """PartsRejected if S3 refuses the parts as listed (an ETag of no uploaded part, a part under
        5 MiB but the last): the client's mistake, which it can mend and send again."""
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=multipart_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in _REJECTED_PARTS:
                raise
            raise PartsRejected(exc.response["Error"].get("Message") or exc.response["Error"]["Code"]) from exc

    def write_staged_objects(self, operation_id: str, objects: dict[tuple[str, int], list[StagedRecord]]) -> None:
        """One object per (record type, object index), several PutObjects at once; writing an object
        again (a retried or resumed staging) replaces it with the same records, or with more of them."""
        map_all(
            REQUESTS,
            lambda item: self.put(staged_object_key(operation_id, *item[0]), _staged_lines(item[1])),
            list(objects.items()),
        )

    def read_staged_object(self, operation_id: str, record_type: str, index: int) -> list[StagedRecord]:
        """The staged records of one object, in seq order (one GetObject)."""
        key = staged_object_key(operation_id, record_type, index)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            # 403: S3's answer for a missing key to a function that may not list the bucket.
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "AccessDenied", "403"):
                raise StagedBatchMissing(key) from exc
            raise
        return [
            StagedRecord(
                type=record_type, seq=line["seq"], data=line["data"], source=line["source"], problem=line.get("problem")
            )
            for line in map(json.loads, body.splitlines())
        ]

    def read_staged_batch(self, operation_id: str, record_type: str, batch: int) -> list[StagedRecord]:
        """The staged records of one batch, in seq order (one GetObject: its group's)."""
        return self.read_staged_batches(operation_id, record_type, [batch])[batch]

    def read_staged_batches(
        self, operation_id: str, record_type: str, batches: list[int]
    ) -> dict[int, list[StagedRecord]]:
        """Several batches' staged records, each object they are in read once (at once)."""
        indexes = sorted({staged_object_of(batch) for batch in batches})
        read = map_all(REQUESTS, lambda index: self.read_staged_object(operation_id, record_type, index), indexes)
        found: dict[int, list[StagedRecord]] = {batch: [] for batch in batches}
        for record in (record for records in read for record in records):
            if record.batch in found:
                found[record.batch].append(record)
        return found

    def write_manifest(self, operation_id: str, record_type: str, descriptors: Iterable[dict[str, Any]]) -> str:
        """A JSON array of batch descriptors, the Distributed Map's item source (JSONL and ItemBatcher
        would be smaller but moto's interpreter supports neither)."""
        key = manifest_key(operation_id, record_type)
        body = io.BytesIO()
        body.write(b"[")
        for index, descriptor in enumerate(descriptors):
            body.write((b"," if index else b"") + json.dumps(descriptor, separators=(",", ":")).encode())
        body.write(b"]")
        self.put(key, body.getvalue())
        return key

    def delete_manifests(self, operation_id: str, record_types: Iterable[str]) -> None:
        self.delete([manifest_key(operation_id, record_type) for record_type in record_types])

    def delete(self, keys: list[str]) -> None:
        """Deletes up to 1,000 objects in one DeleteObjects (a key that is not there is no error)."""
        self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )


class _ChunkStream(io.RawIOBase):
    """Byte chunks as a file that reads forward only (the transfer manager takes a file)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _staged_lines(records: list[StagedRecord]) -> bytes:
    lines = (
        {"seq": record.seq, "source": record.source, "data": record.data}
        | ({"problem": record.problem} if record.problem else {})
        for record in records
    )
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)


@lru_cache(maxsize=1)
def default_files() -> ImportFiles:
    # Presigned URLs signed with SigV4: botocore presigns S3 URLs with SigV2 unless told, which S3
    # refuses in every region opened since 2014 (eu-central-1, ...).
    return ImportFiles(
        get_import_settings().import_bucket,
        aws_clients.client(
            "s3",
            # botocore's standard mode: SlowDown and 5xx, at most 4 attempts (three in a row still land)
            config=Config(signature_version="s3v4", retries={"mode": "standard", "total_max_attempts": 4}),
        ),
    )

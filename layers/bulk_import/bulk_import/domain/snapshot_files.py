"""The files of a cell's __snapshot collection (Personium's WebDAV), and what WebDAV says of each: its
version, its creation and update times, its entity tag."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

#: What a file stored without a Content-Type is served as.
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class SnapshotFile:
    name: str
    size: int
    content_type: str
    #: 1 when created, one more at each update (Personium's DavMetadataFile version).
    version: int
    created_at: datetime
    updated_at: datetime
    #: The store's tag of these very bytes: what a conditional write or read of this version names.
    revision: str

    @property
    def etag(self) -> str:
        """Personium's entity tag of a WebDAV resource: `"<version>-<updated, epoch milliseconds>"`."""
        return f'"{self.version}-{epoch_millis(self.updated_at)}"'

    def has_etag(self, etag: str | None) -> bool:
        """Whether a request's If-Match or If-None-Match names this version: the tag, or the same tag
        marked weak (Personium's DavRsCmp.matchesETag)."""
        return etag is not None and etag in (self.etag, f"W/{self.etag}")

    def refused_by(self, if_match: str | None) -> bool:
        """Whether a write or a delete conditional on `if_match` must be refused: a tag other than
        this version's (no If-Match, or `*`, accepts any)."""
        return if_match is not None and if_match != "*" and not self.has_etag(if_match)

    def replaced(self, size: int, content_type: str, now: datetime) -> SnapshotFile:
        """This file as an update with `size` bytes of `content_type` leaves it (a new revision is
        the store's to give)."""
        return replace(self, size=size, content_type=content_type, version=self.version + 1, updated_at=now)


def new_snapshot_file(name: str, size: int, content_type: str, now: datetime) -> SnapshotFile:
    return SnapshotFile(name, size, content_type, version=1, created_at=now, updated_at=now, revision="")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_millis(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)

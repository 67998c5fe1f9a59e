"""What an imported entry leaves to download, as Rocket.Chat leaves it to downloadPendingFiles and
downloadPendingAvatars: each file of a message (Slack's `files`, one pending file each, whatever its
URL) and a user's avatar URL. A URL that is not http(s) is not downloaded: its download counts as
completed, as Rocket.Chat counts it (PendingFileImporter, PendingAvatarImporter)."""

from __future__ import annotations

from typing import Any

#: The entry kinds that leave downloads, and the importer of each (domain/importers.py).
MESSAGE, USER = "message", "user"


def pending_downloads(kind: str, data: dict[str, Any]) -> int:
    """How many downloads a new entry of `kind` leaves: its indexes are 0 to that number less one."""
    if kind == MESSAGE:
        files = data.get("files")
        return len(files) if isinstance(files, list) else 0
    if kind == USER:
        return 1 if data.get("avatarUrl") else 0
    return 0


def download_url(kind: str, data: dict[str, Any], index: int) -> str | None:
    """The URL of an entry's download `index`; None where there is none to fetch (no URL, or not
    http(s), which Rocket.Chat skips)."""
    if kind == USER:
        url = data.get("avatarUrl")
    else:
        files = data.get("files") or []
        file = files[index] if index < len(files) and isinstance(files[index], dict) else {}
        url = file.get("url_private_download")
    return url if isinstance(url, str) and url.startswith("http") else None


def download_name(kind: str, data: dict[str, Any], index: int) -> str:
    """The name a download is stored under: the file's own (Slack's `name`), or the avatar's."""
    if kind == USER:
        return "avatar"
    files = data.get("files") or []
    file = files[index] if index < len(files) and isinstance(files[index], dict) else {}
    name = file.get("name")
    return name if isinstance(name, str) and name else f"file-{index}"

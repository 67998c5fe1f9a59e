"""The importers an operation names (its `importerKey`), as Rocket.Chat registers them
(`Importers.add`, apps/meteor/server/lib/import): the key, the name its progress and its listing show,
and whether `importers.list` offers it. This product adds its own two: its /v1 API's imports and
Personium's snapshot imports, which Rocket.Chat's routes report like any other (getImportProgress
of an unknown key is an error there)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Importer:
    key: str
    name: str
    #: Offered by importers.list (Rocket.Chat's `visible`); the hidden ones start from their own routes.
    visible: bool
    #: Imports a file in Rocket.Chat's three calls: the file is prepared (staged), the operation waits
    #: in `importer_user_selection` for startImport's selection, then imports what was selected.
    selects: bool = False
    #: Its users may have no email (Rocket.Chat's Slack importer imports them so); elsewhere a user
    #: needs one (docs/decisions/0006-slack-export-in-the-model.md).
    emails_optional: bool = False
    #: Downloads what imported entries of this kind left to download (domain/downloads.py) instead
    #: of importing records: Rocket.Chat's pending files (messages) and avatars (users).
    downloads: str | None = None


IMPORTERS: dict[str, Importer] = {
    importer.key: importer
    for importer in (
        Importer("csv", "CSV", visible=True, selects=True),
        Importer("slack", "Slack", visible=True, selects=True, emails_optional=True),
        Importer("slack-users", "Slack_Users", visible=True, selects=True),
        Importer("api", "API", visible=False),
        Importer("pending-files", "Pending Files", visible=False, downloads="message"),
        Importer("pending-avatars", "Pending Avatars", visible=False, downloads="user"),
        Importer("v1", "Bulk import API", visible=False),
        Importer("personium", "Personium snapshot", visible=False),
        # A snapshot Personium's export wrote: its accounts have no email.
        Importer("personium-cell", "Personium cell snapshot", visible=False, emails_optional=True),
    )
}


def importer_of(key: str) -> Importer | None:
    return IMPORTERS.get(key)


def waits_for_selection(importer_key: str, parent_id: str | None) -> bool:
    """Whether an operation waits for a selection before it imports: a file of a selecting importer,
    not a retry of one (a retry imports every record its parent counted as an error)."""
    importer = IMPORTERS.get(importer_key)
    return importer is not None and importer.selects and parent_id is None


def emails_required(importer_key: str) -> bool:
    """Whether the users an operation of this importer imports need an email (parse_record's rule)."""
    importer = IMPORTERS.get(importer_key)
    return importer is None or not importer.emails_optional


def downloads_of(importer_key: str) -> str | None:
    """The kind of entry whose downloads an operation of this importer runs; None for an import."""
    importer = IMPORTERS.get(importer_key)
    return importer.downloads if importer else None


def visible_importers() -> list[Importer]:
    """What importers.list answers, in Rocket.Chat's order of registration."""
    return [importer for importer in IMPORTERS.values() if importer.visible]

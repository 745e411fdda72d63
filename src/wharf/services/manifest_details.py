"""One manifest of a repository as its page shows it: the stored manifest, its labels, the tags
that point at it and whether the caller starred the repository, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import labels, manifests, stars, tag_changes
from wharf.core.labels import LabelRecord
from wharf.core.manifests import ManifestRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime


@dataclass(frozen=True, slots=True)
class ManifestDetails:
    record: ManifestRecord
    labels: list[LabelRecord]
    tags: list[str]
    """The tags alive now that point at it."""
    starred: bool
    """Whether the caller starred the repository (False for anonymous callers)."""


async def of(rt: Runtime, repo: RepositoryRecord, digest: str, account_id: int | None) -> ManifestDetails:
    """The manifest `digest` of `repo` (raises NotFound, or InvalidDigest for a malformed digest)."""

    def read(db: Db) -> ManifestDetails:
        record = manifests.get(db, repo.id, digest)
        return ManifestDetails(
            record,
            labels.list_for(db, tag_changes.manifest_id(db, repo, digest)),
            manifests.alive_tag_names(db, repo.id, record.id),
            bool(stars.starred_among(db, account_id, [repo.id])),
        )

    return await rt.db.read(read)

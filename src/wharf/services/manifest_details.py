"""One manifest of a repository as its page shows it: the stored manifest, its labels, the tags
that point at it and whether the caller starred the repository, in one transaction; and, for an
image, its configuration (what it runs, its build history) read from the blob store."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import labels, manifests, stars, tag_changes
from wharf.core.labels import LabelRecord
from wharf.core.manifests import ManifestRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.oci import image_config
from wharf.oci import mediatypes as mt
from wharf.oci.image_config import ImageConfig
from wharf.oci.manifest import ParsedManifest
from wharf.runtime import Runtime
from wharf.storage.base import StorageError, blob_path


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


@dataclass(frozen=True, slots=True)
class ConfigRead:
    config: ImageConfig | None
    note: str | None
    """Why there is no configuration to show (None when there is one, or the manifest is no image)."""


async def image_config_of(rt: Runtime, parsed: ParsedManifest) -> ConfigRead:
    """The image configuration the manifest `parsed` names, with its history matched to the layers.

    One read of at most the size the manifest declares, refused above
    `image_config.MAX_CONFIG_BYTES`: the page never holds more than that of a blob."""
    if parsed.is_index or parsed.config_media_type is None or not parsed.blobs:
        return ConfigRead(None, None)
    config, layers = parsed.blobs[0], list(parsed.blobs[1:])
    if parsed.config_media_type not in mt.IMAGE_CONFIGS:
        return ConfigRead(
            None, f"The configuration is an artifact's ({parsed.config_media_type}), not an image's."
        )
    if config.size > image_config.MAX_CONFIG_BYTES:
        return ConfigRead(
            None, f"The image configuration is {config.size} bytes, more than the 4 MiB this page reads."
        )
    try:
        chunks = [chunk async for chunk in rt.store.read(blob_path(config.digest), 0, config.size)]
    except StorageError:
        return ConfigRead(None, "The image configuration is not stored in this registry.")
    found = image_config.parse(b"".join(chunks), layers)
    if found is None:
        return ConfigRead(None, "The image configuration is not a JSON object.")
    return ConfigRead(found, None)

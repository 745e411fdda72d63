"""SBOMs of indexed manifests (issue 16): served by the API, and pushed as OCI referrers into the
repositories whose settings (or their namespace's) ask for them.

Both are written from the stored index (`wharf.secscan.sbom`), never from the layers. A referrer
is an OCI image manifest with `artifactType` the SBOM's media type, the empty config, the SBOM as
its one layer and `subject` the image, stored by the same core functions as a pushed manifest,
so `GET /v2/<name>/referrers/<digest>` lists it and garbage collection treats it like any other.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final

from wharf import __version__
from wharf.config import Settings
from wharf.core import blobs, manifests, repositories, secscan_settings
from wharf.core import secscan as store
from wharf.core.errors import DomainError, ManifestNotFound, ReadOnly, RepositoryNotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.uploads import Target
from wharf.db.engine import Database, Db
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.secscan.sbom import Format, SbomPackage, SbomSubject, render
from wharf.services import pushes
from wharf.storage.base import BlobStore, blob_path

log = logging.getLogger("wharf.secscan")

_EMPTY_CONFIG: Final = b"{}"
_TITLES: Final = {Format.CYCLONEDX: "sbom.cdx.json", Format.SPDX: "sbom.spdx.json"}
FORMAT_ANNOTATION: Final = "dev.wharf.sbom.format"


@dataclass(frozen=True, slots=True)
class SbomAnswer:
    """A manifest's SBOM, or why there is none yet: `status` is Quay's scan status (`queued`,
    `scanned`, `failed`, `unsupported`); `document` is set only when scanned."""

    status: str
    document: dict[str, Any] | None = None
    reason: str | None = None


def _subject(report: store.Report, repository: str, base: str) -> tuple[SbomSubject, list[SbomPackage]]:
    subject = SbomSubject(
        repository,
        report.index.digest,
        report.index.indexed_ms,
        report.index.distribution,
        __version__,
        document_base=base,
    )
    packages = [
        SbomPackage(
            kind=sp.package.version_format,
            name=sp.package.name,
            version=sp.package.version,
            layer=sp.package.added_by,
            arch=sp.package.arch,
            source_name=sp.package.source_name,
            path=sp.package.path,
        )
        for sp in report.packages
    ]
    return subject, packages


async def manifest_sbom(
    database: Database, repo: RepositoryRecord, digest: str, fmt: Format, *, enabled: bool, base: str
) -> SbomAnswer:
    """The SBOM of a manifest of `repo` in `fmt`. Raises ManifestNotFound when the repository
    holds no such manifest; with the scanner off every manifest is `unsupported`."""
    await database.read(manifests.get, repo.id, digest)
    if not enabled:
        return SbomAnswer(store.UNSUPPORTED, reason="security scanning is turned off")
    report = await database.read(store.report, digest)
    if report is None:
        return SbomAnswer(store.QUEUED)
    if report.index.status != store.SCANNED:
        return SbomAnswer(report.index.status, reason=report.index.reason)
    subject, packages = _subject(report, repo.full_name, base)
    return SbomAnswer(store.SCANNED, render(fmt, subject, packages))


def document_base(settings: Settings) -> str:
    """Where SPDX document namespaces start: the registry's own address when it knows it."""
    return f"{settings.public_origin}/spdx"


def encode(document: dict[str, Any]) -> bytes:
    """The bytes an SBOM is stored and served as (stable for one document)."""
    return json.dumps(document, indent=2, sort_keys=False).encode()


# Referrers ------------------------------------------------------------------------------------


def _artifact(fmt: Format, sbom: bytes, subject_type: str, subject: bytes, digest: str) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": fmt.media_type,
        "config": {
            "mediaType": mt.OCI_EMPTY,
            "digest": str(Digest.of(_EMPTY_CONFIG)),
            "size": len(_EMPTY_CONFIG),
        },
        "layers": [
            {
                "mediaType": fmt.media_type,
                "digest": str(Digest.of(sbom)),
                "size": len(sbom),
                "annotations": {"org.opencontainers.image.title": _TITLES[fmt]},
            }
        ],
        "subject": {"mediaType": subject_type, "digest": digest, "size": len(subject)},
        "annotations": {FORMAT_ANNOTATION: str(fmt)},
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def _into(repo: RepositoryRecord, stored: list[tuple[str, int]]) -> Target:
    """The repository the referrer goes to, found again in the push's own transaction (it may have
    been deleted or made read-only since), with the SBOM's blobs linked into it there."""

    def resolve(db: Db) -> tuple[RepositoryRecord, bool]:
        current = repositories.get(db, repo.namespace, repo.name)
        if current is None or current.id != repo.id:
            raise RepositoryNotFound(f"repository {repo.full_name} is gone")
        if current.state != repositories.NORMAL:
            raise ReadOnly(f"repository {repo.full_name} is read-only")
        for digest, size in stored:
            blobs.link(db, current.id, blobs.register(db, digest, size).id)
        return current, False

    return resolve


async def _holds(database: Database, repository_id: int, digest: str) -> bool:
    try:
        await database.read(manifests.get, repository_id, digest)
    except ManifestNotFound:
        return False
    return True


async def _store_blob(store_: BlobStore, data: bytes) -> tuple[str, int]:
    digest = Digest.of(data)
    path = blob_path(digest)
    if await store_.stat(path) is None:
        await store_.put_bytes(path, data)
    return str(digest), len(data)


async def attach(database: Database, blob_store: BlobStore, digest: str, *, base: str) -> list[str]:
    """Push an SBOM referrer of the scanned `digest` into each repository that asks for one.
    Returns the referrers' digests; a repository that refuses the write (read-only, gone) is
    skipped and logged. An index already attached yields the same bytes, which are not pushed again."""
    targets = await database.read(secscan_settings.sbom_targets, digest)
    if not targets:
        return []
    report = await database.read(store.report, digest)
    content = await database.read(store.manifest_content, digest)
    if report is None or report.index.status != store.SCANNED or content is None:
        return []
    subject_type, subject_body = content
    pushed = []
    for repo, fmt_name in targets:
        fmt = Format(fmt_name)
        subject, packages = _subject(report, repo.full_name, base)
        sbom = encode(render(fmt, subject, packages))
        stored = [await _store_blob(blob_store, _EMPTY_CONFIG), await _store_blob(blob_store, sbom)]
        body = _artifact(fmt, sbom, subject_type, subject_body, digest)
        reference = str(Digest.of(body))
        if await _holds(database, repo.id, reference):
            continue  # attached by an earlier run of this index (the digest pushed elsewhere since)
        try:
            await pushes.put_manifest(
                database, blob_store, _into(repo, stored), reference, body, mt.OCI_MANIFEST, None
            )
        except DomainError as e:
            log.info("no SBOM referrer of %s in %s: %s", digest, repo.full_name, e)
            continue
        pushed.append(reference)
    return pushed

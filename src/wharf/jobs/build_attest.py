"""The builder's last step after a successful push: attach the SBOM and the signed provenance
of the pushed image (services/build_attestations.py), with what only the builder knows (the
Dockerfile's base images, the input's digest, the build's times).

A failure here leaves the build `complete` (the image is pushed and tagged) with an error line in
its log saying what is missing: the image is usable, its provenance is not there to check.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wharf import __version__
from wharf.core import build_provenance as prov
from wharf.core import builds, manifests, repositories
from wharf.core.builds import BuildRecord
from wharf.core.clock import now_ms
from wharf.core.errors import DomainError
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.services import build_attestations

log = logging.getLogger("wharf.builder")


def _file_digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


async def resolve_base_images(
    rt: Runtime, images: list[tuple[str, RepositoryName | None]]
) -> list[prov.BaseImage]:
    """The base images, with the digest the tag named in this Wharf when the build pulled it
    (looked up again now: a tag moved during the build would show its new digest)."""
    found = []
    for image, repo_name in images:
        digest = image.split("@", 1)[1] if "@" in image else None
        if repo_name is not None and digest is None:
            tag = image.rsplit("/", 1)[-1].partition(":")[2] or "latest"
            repo = await rt.db.read(repositories.get, repo_name.namespace, repo_name.name)
            if repo is not None:
                try:
                    digest = (await rt.db.read(manifests.get, repo.id, tag)).digest
                except DomainError:
                    digest = None
        found.append(prov.BaseImage(image, digest))
    return found


def facts(
    rt: Runtime, build: BuildRecord, digest: str, bases: list[prov.BaseImage], input_digest: str | None
) -> prov.BuildFacts:
    origin = rt.settings.public_origin.rstrip("/")
    source: dict[str, str] = (
        {"archive_url": build.archive_url} if build.archive_url else {"upload": build.display_name}
    )
    return prov.BuildFacts(
        builder_id=f"{origin}/builders",
        wharf_version=__version__,
        build_uuid=build.uuid,
        image=f"{urlsplit(origin).netloc}/{build.full_name}",
        digest=digest,
        dockerfile_path=build.dockerfile_path,
        context=build.context,
        subdirectory=build.subdirectory,
        tags=list(build.docker_tags),
        source=source,
        started_ms=build.started_ms,
        finished_ms=now_ms(),
        base_images=tuple(bases),
        input_digest=input_digest,
        trigger=_trigger(build),
    )


def _trigger(build: BuildRecord) -> dict[str, Any] | None:
    """What a trigger's build was built from: the service, the pushed ref and the commit."""
    meta = build.trigger_metadata
    if build.trigger_uuid is None or meta is None:
        return None
    keep = ("ref", "commit", "git_url", "default_branch")
    return {"uuid": build.trigger_uuid, "service": build.trigger_service} | {
        k: meta[k] for k in keep if k in meta
    }


async def attest(
    rt: Runtime,
    build: BuildRecord,
    digest: str,
    images: list[tuple[str, RepositoryName | None]],
    work: Path,
) -> list[builds.LogLine]:
    """Attach both referrers of the pushed `digest`; returns the log lines that say so."""
    try:
        repo = await rt.db.read(repositories.get, build.namespace, build.repository)
        if repo is None:
            return [(builds.OUTPUT_LOG, "no SBOM or provenance attached: the repository is gone", None)]
        bases = await resolve_base_images(rt, images)
        made = facts(rt, build, digest, bases, _file_digest(work / "input"))
        attached = await build_attestations.attach(rt.db, rt.store, rt.settings, rt.secrets, repo, made)
    except Exception as e:
        log.warning("build %s: no provenance attached to %s", build.uuid, digest, exc_info=True)
        return [(builds.OUTPUT_LOG, f"could not attach the SBOM and the provenance: {e}", None)]
    lines: list[builds.LogLine] = []
    if attached.sbom:
        lines.append((builds.OUTPUT_LOG, f"attached the SBOM {attached.sbom} to {digest}", None))
    else:
        lines.append((builds.OUTPUT_LOG, f"no SBOM of {digest}: the indexer could not read it", None))
    lines.append(
        (builds.OUTPUT_LOG, f"attached the signed provenance {attached.provenance} to {digest}", None)
    )
    return lines

"""What a successful build attaches to the image it pushed (issue 20, "beyond Quay"), and how
that is checked again.

Two OCI 1.1 referrers whose `subject` is the pushed manifest:

- an SBOM (CycloneDX 1.6 JSON) written by the security indexer's own code from the image's
  layers as they now sit in the blob store (so it describes what was pushed, not buildah's view);
- the SLSA v1 provenance, as a DSSE-signed in-toto statement inside a Sigstore bundle v0.3
  (core/build_provenance.py), signed with the installation's build key (core/build_signing.py).

Both are stored by `services.pushes.put_manifest` like any pushed manifest: quotas, the
repository's state and garbage collection apply to them as to the image.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from wharf import __version__
from wharf.config import Settings
from wharf.core import blobs, manifests, repositories
from wharf.core import build_provenance as prov
from wharf.core import build_signing as signing
from wharf.core.errors import ManifestNotFound, ReadOnly, RepositoryNotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.core.uploads import Target
from wharf.db.engine import Database, Db
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.oci.manifest import parse_manifest
from wharf.secscan.indexer import ImageIndex
from wharf.secscan.sbom import Format, SbomPackage, SbomSubject, render
from wharf.services import pushes, quotas, secscan
from wharf.services.secscan_sbom import document_base, encode
from wharf.storage.base import BlobStore, blob_path

log = logging.getLogger("wharf.builder")

SBOM_TITLE: Final = "sbom.cdx.json"
PROVENANCE_TITLE: Final = "provenance.sigstore.json"
BASE_NAME: Final = "org.opencontainers.image.base.name"
BASE_DIGEST: Final = "org.opencontainers.image.base.digest"


@dataclass(frozen=True, slots=True)
class Attached:
    sbom: str | None
    """The SBOM referrer's digest; None when the image could not be indexed."""
    provenance: str


def key_file(settings: Settings) -> Path:
    return settings.DATA_DIR / "keys" / signing.KEY_FILE_NAME


def signing_key(settings: Settings, box: SecretBox) -> signing.SigningKey:
    return signing.load_or_create(key_file(settings), box)


def public_key(settings: Settings, box: SecretBox) -> str:
    """The public key that verifies built images' provenance (made now if no build made it yet,
    so the key published before the first build is the one that will sign)."""
    return signing_key(settings, box).public_pem


# Attaching -------------------------------------------------------------------------------------


async def attach(
    database: Database,
    store: BlobStore,
    settings: Settings,
    box: SecretBox,
    repo: RepositoryRecord,
    facts: prov.BuildFacts,
) -> Attached:
    """Push the SBOM and the signed provenance of the image `facts.digest` of `repo`. Raises the
    domain errors of a push (the repository gone or read-only, a quota exceeded)."""
    subject = await database.read(manifests.get, repo.id, facts.digest)
    facts = _with_base_digests(facts, subject.content)
    # A build run again (BUILD_MAX_ATTEMPTS) after its builder died past the push finds what its
    # earlier run attached: it keeps those rather than attaching a second pair (the provenance's
    # times differ from run to run, so its bytes, and its digest, would too).
    earlier = await database.read(_attached_by, repo.id, facts.digest, facts.build_uuid)
    if prov.BUNDLE_MEDIA_TYPE in earlier:
        return Attached(earlier.get(Format.CYCLONEDX.media_type), earlier[prov.BUNDLE_MEDIA_TYPE])
    sbom_digest = earlier.get(Format.CYCLONEDX.media_type)
    if sbom_digest is None:
        sbom_digest = await _attach_sbom(database, store, settings, repo, subject, facts)
    key = signing_key(settings, box)
    payload = json.dumps(prov.statement(facts), separators=(",", ":")).encode()
    dsse = prov.envelope(payload, key.sign(prov.INTOTO_PAYLOAD_TYPE, payload), key.keyid)
    layer = json.dumps(prov.bundle(dsse, key.keyid), separators=(",", ":")).encode()
    annotations = {
        prov.BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
        prov.BUNDLE_PREDICATE_ANNOTATION: prov.SLSA_PROVENANCE_V1,
        prov.CREATED_ANNOTATION: prov.created(facts.finished_ms),
        prov.BUILD_ANNOTATION: facts.build_uuid,
    }
    body = prov.referrer(
        prov.BUNDLE_MEDIA_TYPE,
        layer,
        subject.media_type,
        len(subject.content),
        facts.digest,
        annotations,
        {"org.opencontainers.image.title": PROVENANCE_TITLE},  # the file name `oras pull` writes
    )
    provenance = await _push(database, store, settings, repo, layer, body)
    return Attached(sbom_digest, provenance)


def _attached_by(db: Db, repository_id: int, digest: str, build_uuid: str) -> dict[str, str]:
    """{artifact type: referrer digest} of what the build `build_uuid` attached to `digest`."""
    return {
        ref.artifact_type: ref.digest
        for ref in manifests.referrers(db, repository_id, digest, None)
        if ref.artifact_type and (ref.annotations or {}).get(prov.BUILD_ANNOTATION) == build_uuid
    }


def _with_base_digests(facts: prov.BuildFacts, content: bytes) -> prov.BuildFacts:
    """Fill in the digest buildah recorded for the last stage's base image (its manifest's
    `org.opencontainers.image.base.*` annotations) where the caller did not know it."""
    try:
        annotations = json.loads(content).get("annotations") or {}
    except (ValueError, AttributeError):
        return facts
    name, digest = annotations.get(BASE_NAME), annotations.get(BASE_DIGEST)
    if not isinstance(name, str) or not isinstance(digest, str):
        return facts
    bases = list(facts.base_images)
    for i, base in enumerate(bases):
        if base.digest is None and (name == base.reference or name.endswith("/" + base.reference)):
            bases[i] = prov.BaseImage(base.reference, digest)
    return _replace_bases(facts, bases)


def _replace_bases(facts: prov.BuildFacts, bases: list[prov.BaseImage]) -> prov.BuildFacts:
    return replace(facts, base_images=tuple(bases))


async def _attach_sbom(
    database: Database,
    store: BlobStore,
    settings: Settings,
    repo: RepositoryRecord,
    subject: manifests.ManifestRecord,
    facts: prov.BuildFacts,
) -> str | None:
    try:
        parsed = parse_manifest(subject.content, subject.media_type)
        layers = [d.digest for d in parsed.blobs[1:] if not d.has_urls]
        index = await secscan.read_layers(store, layers)
    except Exception as e:  # an image the indexer cannot read still gets its provenance
        log.warning("build %s: no SBOM of %s: %s", facts.build_uuid, facts.digest, e)
        return None
    sbom_subject = SbomSubject(
        repo.full_name,
        facts.digest,
        facts.finished_ms,
        _distribution(index),
        __version__,
        document_base=document_base(settings),
    )
    packages = [
        SbomPackage(
            kind=str(found.package.kind),
            name=found.package.name,
            version=found.package.version,
            layer=found.layer,
            arch=found.package.arch,
            source_name=found.package.source_name,
            path=found.package.path,
        )
        for found in index.packages
    ]
    sbom = encode(render(Format.CYCLONEDX, sbom_subject, packages))
    annotations = {
        prov.CREATED_ANNOTATION: prov.created(facts.finished_ms),
        prov.BUILD_ANNOTATION: facts.build_uuid,
    }
    body = prov.referrer(
        Format.CYCLONEDX.media_type,
        sbom,
        subject.media_type,
        len(subject.content),
        facts.digest,
        annotations,
        {"org.opencontainers.image.title": SBOM_TITLE},
    )
    return await _push(database, store, settings, repo, sbom, body)


def _distribution(index: ImageIndex) -> dict[str, str] | None:
    d = index.distribution
    if d is None:
        return None
    return {
        "id": d.id,
        "version_id": d.version_id,
        "version_codename": d.version_codename,
        "pretty_name": d.pretty_name,
    }


async def _store_blob(store: BlobStore, data: bytes) -> tuple[str, int]:
    digest = Digest.of(data)
    if await store.stat(blob_path(digest)) is None:
        await store.put_bytes(blob_path(digest), data)
    return str(digest), len(data)


def _into(repo: RepositoryRecord, stored: list[tuple[str, int]]) -> Target:
    """The build's repository, found again in the push's transaction (it may have been deleted or
    made read-only since the image was pushed), with the referrer's blobs linked into it."""

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


async def _push(
    database: Database,
    store: BlobStore,
    settings: Settings,
    repo: RepositoryRecord,
    layer: bytes,
    body: bytes,
) -> str:
    stored = [await _store_blob(store, prov.EMPTY_CONFIG), await _store_blob(store, layer)]
    reference = str(Digest.of(body))
    await pushes.put_manifest(
        database,
        store,
        _into(repo, stored),
        reference,
        body,
        mt.OCI_MANIFEST,
        None,
        quota=quotas.enforcement(settings),
    )
    return reference


# Verifying -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verified:
    digest: str
    """The image's manifest digest."""
    referrer: str
    """The provenance referrer that verified."""
    statement: dict[str, Any]
    sbom: str | None


async def verify(
    database: Database, store: BlobStore, repo: RepositoryRecord, reference: str, public_pem: str
) -> Verified:
    """Check the provenance attached to the image `reference` (a tag or a digest) of `repo`
    against `public_pem`. Raises ManifestNotFound, or ProvenanceInvalid saying why none verifies."""
    image = await database.read(manifests.get, repo.id, reference)
    found = await database.read(manifests.referrers, repo.id, image.digest, prov.BUNDLE_MEDIA_TYPE)
    sboms = await database.read(manifests.referrers, repo.id, image.digest, Format.CYCLONEDX.media_type)
    if not found:
        raise prov.ProvenanceInvalid(f"no provenance is attached to {image.digest}")
    reasons = []
    for ref in reversed(found):  # the newest first
        try:
            statement = await _verify_referrer(database, store, repo, ref.digest, image.digest, public_pem)
        except prov.ProvenanceInvalid as e:
            reasons.append(f"{ref.digest}: {e.reason}")
            continue
        return Verified(image.digest, ref.digest, statement, sboms[-1].digest if sboms else None)
    raise prov.ProvenanceInvalid("; ".join(reasons))


async def _verify_referrer(
    database: Database, store: BlobStore, repo: RepositoryRecord, referrer: str, digest: str, public_pem: str
) -> dict[str, Any]:
    try:
        manifest = await database.read(manifests.get, repo.id, referrer)
    except ManifestNotFound:
        raise prov.ProvenanceInvalid("the referrer is gone") from None
    layers = json.loads(manifest.content).get("layers") or []
    if len(layers) != 1 or layers[0].get("mediaType") != prov.BUNDLE_MEDIA_TYPE:
        raise prov.ProvenanceInvalid("the referrer does not hold one Sigstore bundle")
    try:
        layer_digest = Digest.parse(str(layers[0].get("digest")))
    except ValueError:
        raise prov.ProvenanceInvalid("the referrer's layer digest is not a digest") from None
    data = b"".join([chunk async for chunk in store.read(blob_path(layer_digest))])
    if Digest.of(data) != layer_digest:
        raise prov.ProvenanceInvalid("the bundle's bytes do not match their digest")
    return verify_bundle(data, digest, public_pem)


def verify_bundle(data: bytes, digest: str, public_pem: str) -> dict[str, Any]:
    """The statement of a bundle's envelope, verified with `public_pem` and checked to be
    provenance about `digest`; ProvenanceInvalid otherwise."""
    try:
        found = json.loads(data)
    except ValueError:
        raise prov.ProvenanceInvalid("the bundle is not JSON") from None
    if not isinstance(found, dict) or found.get("mediaType") != prov.BUNDLE_MEDIA_TYPE:
        raise prov.ProvenanceInvalid("not a Sigstore bundle v0.3")
    payload, signatures = prov.envelope_parts(found.get("dsseEnvelope"))
    signing.verify(public_pem, prov.INTOTO_PAYLOAD_TYPE, payload, signatures)
    return prov.read_statement(payload, digest)

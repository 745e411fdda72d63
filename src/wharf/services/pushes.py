"""Pushing an image: storing a manifest (and the tag that names it).

A manifest PUT is on the path of every push, so it does each thing once: the body is parsed once
(here, before anything else, and the parse is what `core.manifests.put` stores), the image
configuration it names is read from the blob store in one request (its labels are recorded, and
`quay.expires-after` among them schedules the tag's expiry), and then one write transaction finds
the repository (or creates it, for a first push that sends no blob), checks the blobs, stores the
manifest, points the tag, writes the audit entry and queues the notifications.

The repository a /v2 write goes to is found here too (`writable_repository`, `target`,
`open_upload`, and `claim_upload`, which claims the upload in the same write transaction), in the
statement that checks the caller's token is still current; the surface has
already checked the token's scope and the registry's state. They raise TokenRevoked, ReadOnly for a
READ_ONLY or MIRROR repository and NamespaceNotFound for a first push to a namespace that does not
exist.
"""

from __future__ import annotations

from wharf.auth import tokens
from wharf.auth.tokens import Grant
from wharf.core import audit, labels, manifests, mirrors, provision, quotas, repositories, secscan, uploads
from wharf.core.errors import AlreadyExists, DomainError, ReadOnly, UploadNotFound
from wharf.core.manifests import ManifestRecord
from wharf.core.repositories import RepositoryRecord
from wharf.core.uploads import Target, UploadState
from wharf.db.engine import Database, Db
from wharf.oci import mediatypes as mt
from wharf.oci.manifest import ParsedManifest
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.storage.base import BlobStore, StorageError, blob_path


async def put_manifest(
    database: Database,
    store: BlobStore,
    target: Target,
    reference: str,
    body: bytes,
    content_type: str | None,
    actor: audit.Actor | None,
    *,
    scan: bool = False,
    quota: quotas.Enforcement = quotas.OFF,
) -> ManifestRecord:
    """Store the manifest `body` under `reference` (a tag or its digest) in the repository
    `target` finds (or creates) inside the write's transaction: the surface decides how, with its
    permission checks and its errors. Raises the domain errors of `core.manifests.put`
    (InvalidTag, InvalidDigest, InvalidManifest, ManifestBlobUnknown, ...), a bad reference
    before a bad body, and both only after `target` has found the repository: a caller whose
    token was revoked hears that, not what was wrong with what it sent. With `scan`
    (FEATURE_SECURITY_SCANNER), the same transaction queues the manifest's indexing: one insert,
    the push never waits for it. `quota` (`services.quotas.enforcement`): over the namespace's
    Reject limit a manifest that adds bytes is refused (QuotaExceeded), in the same transaction
    that counts it."""
    parsed: ParsedManifest | None = None
    refused: DomainError | None = None
    try:
        manifests.parse_reference(reference)
        parsed = manifests.parse(body, content_type)
    except DomainError as e:
        refused = e
    config_labels = await config_labels_of(store, parsed) if parsed is not None else {}

    def _put(db: Db) -> ManifestRecord:
        repo, _created = target(db)
        if refused is not None:
            raise refused
        assert parsed is not None
        record = manifests.put(db, repo, reference, body, parsed, actor, config_labels, quota)
        if scan:
            secscan.enqueue_index(db, record.digest)
        return record

    return await database.write(_put)


async def config_labels_of(store: BlobStore, parsed: ParsedManifest) -> dict[str, str]:
    """The labels of the image configuration an image manifest names; {} for anything else, or
    when the configuration is larger than `labels.MAX_CONFIG_BYTES` or not (yet) stored.

    One read of at most the size the manifest declares (one GET on S3; no stat first): a
    configuration whose stored bytes are more than declared yields no labels, since the prefix
    read is not the whole document, and never more than MAX_CONFIG_BYTES is held."""
    if parsed.config_media_type not in mt.IMAGE_CONFIGS or not parsed.blobs:
        return {}
    config = parsed.blobs[0]
    if config.size > labels.MAX_CONFIG_BYTES:
        return {}
    try:
        chunks = [chunk async for chunk in store.read(blob_path(config.digest), 0, config.size)]
    except StorageError:
        return {}
    return labels.from_config(b"".join(chunks))


def _writable(db: Db, raw: str, repo: RepositoryRecord, grant: Grant | None) -> RepositoryRecord:
    """The repository, unless its state refuses writes: READ_ONLY always, MIRROR to everyone but
    the mirror's robot (Quay's rule; the sync itself writes through core, not /v2)."""
    if repo.state == repositories.NORMAL:
        return repo
    robot = grant.identity.account_id if grant is not None else None
    if repo.state in repositories.MIRRORED and mirrors.is_robot_of(db, repo.id, robot):
        return repo
    raise ReadOnly(f"repository {raw} is read-only")


def target(rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, actor: audit.Actor) -> Target:
    """A function that finds the repository `name` (`raw` as the request wrote it) inside the
    transaction of the write that needs it, or creates it there: a first push to a new repository
    creates it, its audit entry and its default permissions in the transaction that opens the
    upload (or stores the manifest), not in transactions of their own."""
    visibility = "private" if rt.settings.CREATE_PRIVATE_REPO_ON_PUSH else "public"
    creator = grant.identity.account_id if grant is not None else None

    def resolve(db: Db) -> tuple[RepositoryRecord, bool]:
        repo, namespace = tokens.repository_or_namespace(db, grant, name.namespace, name.name)
        if repo is not None:
            return _writable(db, raw, repo, grant), False
        try:
            created = provision.create_repository(
                db,
                name.namespace,
                name.name,
                visibility=visibility,
                creator_id=creator,
                actor=actor,
                known=namespace,
            )
        except AlreadyExists:  # created meanwhile by a concurrent push (PostgreSQL)
            repo = repositories.get(db, name.namespace, name.name)
            assert repo is not None
            return _writable(db, raw, repo, grant), False
        return created, True

    return resolve


async def writable_repository(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, actor: audit.Actor
) -> RepositoryRecord:
    """The repository a write goes to: read, or when it does not exist yet created (`target`)."""

    def existing(db: Db) -> RepositoryRecord | None:
        repo = tokens.repository_for(db, grant, name.namespace, name.name)
        return _writable(db, raw, repo, grant) if repo is not None else None

    repo = await rt.db.read(existing)
    if repo is not None:
        return repo
    created, _ = await rt.db.write(target(rt, grant, raw, name, actor))
    return created


def _find_upload(db: Db, grant: Grant | None, raw: str, name: RepositoryName, upload_id: str) -> UploadState:
    """The repository and its open upload `upload_id` (UploadNotFound when either is missing: an
    upload never creates its repository), with the token's check, in one statement."""
    account_id = grant.identity.account_id if grant is not None else None
    if grant is None or account_id is None:
        repo = tokens.repository_for(db, grant, name.namespace, name.name)
        if repo is None:
            raise UploadNotFound("no such upload")
        return uploads.find(db, _writable(db, raw, repo, grant).id, upload_id)
    repo, generation, upload = uploads.find_as(db, name.namespace, name.name, account_id, upload_id)
    tokens.require_generation(grant, generation)
    if repo is None:
        raise UploadNotFound("no such upload")
    _writable(db, raw, repo, grant)
    if upload is None:
        raise UploadNotFound("no such upload")
    return upload


async def open_upload(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, upload_id: str
) -> UploadState:
    """The repository and its open upload `upload_id`, in one read (`_find_upload`)."""
    return await rt.db.read(_find_upload, grant, raw, name, upload_id)


async def claim_upload(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName, upload_id: str, start: int | None
) -> uploads.Claim:
    """`open_upload` and the claim a PATCH or PUT writes under (`uploads.claim`, checking the
    chunk's `start`), in one write transaction instead of a read and a write. The caller hands the
    claim to `uploads.append` or `uploads.finish` at once: they release it on every path."""

    def find_and_claim(db: Db) -> uploads.Claim:
        return uploads.claim(db, _find_upload(db, grant, raw, name, upload_id), start)

    return await rt.db.write(find_and_claim)

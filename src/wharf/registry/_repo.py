"""Resolving the repository a /v2 request addresses, creating it on first push."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from wharf.auth import permissions
from wharf.core import manifests, provision, repositories, uploads
from wharf.core.errors import (
    AlreadyExists,
    DomainError,
    NamespaceNotFound,
    RepositoryNotFound,
    UploadNotFound,
)
from wharf.core.manifests import ManifestRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.registry.context import Call
from wharf.registry.errors import (
    DENIED,
    NAME_INVALID,
    NAME_UNKNOWN,
    READ_ONLY_MODE,
    RegistryError,
    from_domain,
)

T = TypeVar("T")


def parse_name(call: Call, raw: str) -> RepositoryName:
    try:
        return RepositoryName.parse(raw, call.rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError as e:
        raise RegistryError(NAME_INVALID, str(e)) from None


async def read(call: Call, raw: str, fn: Callable[[Db, RepositoryRecord], T], *, large: bool = False) -> T:
    """Run `fn(db, repo)` on the repository the caller may pull from, in one read transaction;
    `large` reads (a big listing page) go to the database's thread pool even on SQLite."""
    name = parse_name(call, raw)
    call.require("repository", raw, permissions.PULL)

    def _in_repository(db: Db) -> T:
        return fn(db, _pullable(call, raw, call.repository(db, name.namespace, name.name)))

    try:
        if large:
            return await call.rt.db.read_in_pool(_in_repository)
        return await call.rt.db.read(_in_repository)
    except DomainError as e:
        raise from_domain(e) from None


async def read_manifest(call: Call, raw: str, reference: str) -> tuple[RepositoryRecord, ManifestRecord]:
    """The repository the caller may pull from and its manifest `reference`, in one statement:
    what `read` with `manifests.get` does in two (the token's revocation check rides on it too)."""
    name = parse_name(call, raw)
    call.require("repository", raw, permissions.PULL)
    grant = call.grant
    account_id = grant.identity.account_id if grant is not None else None

    def _in_repository(db: Db) -> tuple[RepositoryRecord, ManifestRecord]:
        repo, generation, found = manifests.get_with_repository(
            db, name.namespace, name.name, reference, account_id
        )
        # As `tokens.current_repository`: a token of an account is current while the account's
        # generation is the one the token carries.
        if grant is not None and account_id is not None and generation != grant.generation:
            raise call.revoked()
        repo = _pullable(call, raw, repo)
        if isinstance(found, DomainError):
            raise found
        return repo, found

    try:
        return await call.rt.db.read(_in_repository)
    except DomainError as e:
        raise from_domain(e) from None


def _pullable(call: Call, raw: str, repo: RepositoryRecord | None) -> RepositoryRecord:
    if repo is None:
        raise RepositoryNotFound(f"repository {raw} not found")
    if not repo.is_public and call.grant is not None and raw in call.grant.public_only:
        raise call.revoked()  # it was made private since the token was issued
    return repo


async def _may_write(call: Call, raw: str, actions: tuple[str, ...]) -> RepositoryName:
    """What every write checks before any transaction: the registry is writable and the token
    allows one of `actions` (by default push) on the repository."""
    if call.rt.settings.REGISTRY_STATE == "readonly":
        raise RegistryError(READ_ONLY_MODE, repositories.REGISTRY_READ_ONLY)
    name = parse_name(call, raw)
    try:
        call.require("repository", raw, *(actions or (permissions.PUSH,)))
    except RegistryError:
        # A token never carries push for a READ_ONLY or MIRROR repository: tell whoever may read
        # it, since a new token could not help (403, not the 401 that sends the client for one).
        if call.grant is not None:
            access = await call.rt.db.read(
                permissions.repository_access,
                call.rt.settings,
                call.grant.identity,
                name.namespace,
                name.name,
            )
            existing = access.repository
            if existing is not None and existing.state != repositories.NORMAL and access.actions:
                raise RegistryError(DENIED, f"repository {raw} is read-only") from None
        raise
    return name


def _writable(call: Call, raw: str, repo: RepositoryRecord) -> RepositoryRecord:
    if repo.state != repositories.NORMAL:
        raise RegistryError(DENIED, f"repository {raw} is read-only")
    return repo


def _resolver(call: Call, raw: str, name: RepositoryName) -> uploads.Target:
    """The repository, found or created inside the transaction of the write that needs it."""
    visibility = "private" if call.rt.settings.CREATE_PRIVATE_REPO_ON_PUSH else "public"
    creator = call.grant.identity.account_id if call.grant else None
    actor = call.actor

    def resolve(db: Db) -> tuple[RepositoryRecord, bool]:
        repo = call.repository(db, name.namespace, name.name)
        if repo is not None:
            return _writable(call, raw, repo), False
        try:
            created = provision.create_repository(
                db, name.namespace, name.name, visibility=visibility, creator_id=creator, actor=actor
            )
        except AlreadyExists:  # created meanwhile by a concurrent push (PostgreSQL)
            repo = repositories.get(db, name.namespace, name.name)
            assert repo is not None
            return _writable(call, raw, repo), False
        except NamespaceNotFound as e:
            raise RegistryError(NAME_UNKNOWN, str(e)) from None
        return created, True

    return resolve


async def for_write(call: Call, raw: str, *actions: str) -> RepositoryRecord:
    """The repository a write goes to; created now when the token allows pushing to it.

    While REGISTRY_STATE is `readonly` (maintenance), every write is refused before anything else."""
    name = await _may_write(call, raw, actions)
    repo = await call.rt.db.read(call.repository, name.namespace, name.name)
    if repo is not None:
        return _writable(call, raw, repo)
    created, _ = await call.rt.db.write(_resolver(call, raw, name))
    return created


async def for_upload(call: Call, raw: str, upload_id: str) -> uploads.UploadState:
    """The checks of `for_write`, then the repository and its open upload `upload_id` in one read
    (BLOB_UPLOAD_UNKNOWN when either is missing: an upload never creates its repository here)."""
    name = await _may_write(call, raw, ())

    def _find(db: Db) -> uploads.UploadState:
        repo = call.repository(db, name.namespace, name.name)
        if repo is None:
            raise UploadNotFound("no such upload")
        return uploads.find(db, _writable(call, raw, repo).id, upload_id)

    try:
        return await call.rt.db.read(_find)
    except DomainError as e:
        raise from_domain(e) from None


async def for_first_write(call: Call, raw: str) -> uploads.Target:
    """For the write that starts a push (opening an upload, mounting a blob): the checks of
    `for_write`, and a function that finds the repository, or creates it, inside that write's own
    transaction. A first push to a new repository thus creates it, its audit entry and its default
    permissions in the transaction that opens the upload: one transaction instead of three."""
    name = await _may_write(call, raw, ())
    return _resolver(call, raw, name)

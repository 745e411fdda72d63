"""Resolving the repository a /v2 request addresses, creating it on first push: the checks of the
token's scope and the registry's state, then the service that reads or writes in one transaction
(services/pulls.py, services/pushes.py)."""

from __future__ import annotations

from wharf.auth import permissions
from wharf.core import repositories, uploads
from wharf.core.errors import DomainError, InvalidRange
from wharf.core.manifests import ManifestRecord
from wharf.core.repositories import RepositoryRecord
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.registry.context import Call
from wharf.registry.errors import DENIED, NAME_INVALID, RANGE_INVALID, READ_ONLY_MODE, RegistryError
from wharf.services import proxy_cache, proxy_cache_manifests, pulls, pushes


def parse_name(call: Call, raw: str) -> RepositoryName:
    try:
        return RepositoryName.parse(raw, call.rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError as e:
        raise RegistryError(NAME_INVALID, str(e)) from None


def may_pull(call: Call, raw: str) -> RepositoryName:
    """The repository's name, when the token allows pulling from it (else the 401 challenge)."""
    name = parse_name(call, raw)
    call.require("repository", raw, permissions.PULL)
    return name


async def read_manifest(
    call: Call, raw: str, reference: str, *, enforce_policy: bool = False
) -> tuple[RepositoryRecord, ManifestRecord]:
    """The repository the caller may pull from and its manifest `reference`, in one statement (the
    token's revocation check and the namespace's pull policy ride on it too); with
    `enforce_policy`, the pull policy's check (services/pulls.py)."""
    name = may_pull(call, raw)
    try:
        proxy = await proxy_cache.config_for(call.rt, name.namespace)
        if proxy is not None:
            return await proxy_cache_manifests.manifest(
                call.rt, proxy, call.grant, name, reference, call.actor
            )
        return await pulls.manifest(call.rt, call.grant, raw, name, reference, enforce_policy=enforce_policy)
    except DomainError as e:
        raise call.failed(e) from None


async def _may_write(call: Call, raw: str, actions: tuple[str, ...]) -> RepositoryName:
    """What every write checks before any transaction: the registry is writable and the token
    allows one of `actions` (by default push) on the repository."""
    if call.rt.settings.REGISTRY_STATE == "readonly":
        raise RegistryError(READ_ONLY_MODE, repositories.REGISTRY_READ_ONLY)
    name = parse_name(call, raw)
    proxy = await proxy_cache.config_for(call.rt, name.namespace)
    if proxy is not None:
        raise RegistryError(
            DENIED,
            f"{name.namespace} is a proxy cache of {proxy.upstream_registry}: its repositories are "
            "filled by pulls, pushes are refused; push to another organization",
        )
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


async def for_write(call: Call, raw: str, *actions: str) -> RepositoryRecord:
    """The repository a write goes to; created now when the token allows pushing to it.

    While REGISTRY_STATE is `readonly` (maintenance), every write is refused before anything else."""
    name = await _may_write(call, raw, actions)
    try:
        return await pushes.writable_repository(call.rt, call.grant, raw, name, call.actor)
    except DomainError as e:
        raise call.failed(e) from None


async def for_upload(call: Call, raw: str, upload_id: str) -> uploads.UploadState:
    """The checks of `for_write`, then the repository and its open upload `upload_id` in one read
    (BLOB_UPLOAD_UNKNOWN when either is missing: an upload never creates its repository here)."""
    name = await _may_write(call, raw, ())
    try:
        return await pushes.open_upload(call.rt, call.grant, raw, name, upload_id)
    except DomainError as e:
        raise call.failed(e) from None


async def claim_upload(call: Call, raw: str, upload_id: str, start: int | None) -> uploads.Claim:
    """`for_upload` and the claim of the upload for this request (`pushes.claim_upload`), in one
    write transaction: the caller passes the claim to `uploads.append` or `uploads.finish`."""
    name = await _may_write(call, raw, ())
    try:
        return await pushes.claim_upload(call.rt, call.grant, raw, name, upload_id, start)
    except DomainError as e:
        raise upload_failed(call, upload_id, e) from None


def range_headers(upload_id: str, offset: int) -> dict[str, str]:
    """What a RANGE_INVALID about an upload tells the client: where the upload stands."""
    return {"Range": f"0-{max(offset - 1, 0)}", "Docker-Upload-UUID": upload_id}


def upload_failed(call: Call, upload_id: str, e: DomainError) -> RegistryError:
    """The /v2 error for what claiming, appending to or finishing an upload refused: a chunk
    that does not start where the upload ends is told the upload's offset."""
    if isinstance(e, InvalidRange):
        offset = e.detail.get("offset")
        offset = offset if isinstance(offset, int) else 0
        return RegistryError(RANGE_INVALID, str(e), headers=range_headers(upload_id, offset))
    return call.failed(e)


async def for_first_write(call: Call, raw: str) -> uploads.Target:
    """For the write that starts a push (opening an upload, mounting a blob, a manifest PUT): the
    checks of `for_write`, and a function that finds the repository, or creates it, inside that
    write's own transaction (`pushes.target`). A first push to a new repository thus creates it,
    its audit entry and its default permissions in the transaction that opens the upload: one
    transaction instead of three. The write's domain errors go through `call.failed`."""
    name = await _may_write(call, raw, ())
    return pushes.target(call.rt, call.grant, raw, name, call.actor)

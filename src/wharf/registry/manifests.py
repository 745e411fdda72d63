"""Manifest and referrers endpoints."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import Response

from wharf.auth import permissions
from wharf.core import manifests
from wharf.core.errors import DomainError
from wharf.core.repositories import RepositoryRecord
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest, DigestError, is_digest
from wharf.oci.manifest import MAX_MANIFEST_BYTES, accepts, default_platform_child
from wharf.registry import _repo
from wharf.registry._repo import parse_name
from wharf.registry.context import Call
from wharf.registry.errors import (
    DIGEST_INVALID,
    MANIFEST_INVALID,
    MANIFEST_UNKNOWN,
    SIZE_INVALID,
    TOO_LARGE,
    RegistryError,
)
from wharf.services import pulls, pushes, quotas


async def _log_failure(call: Call, kind: str, name: str, reference: str, error: RegistryError) -> None:
    """Record a failed pull or push. A 401 is logged only when the caller may really not do it: the
    challenge every client meets first, and the one a token that merely did not ask for the access
    gets (a fresh token would allow it), are not failures."""
    try:
        full = parse_name(call, name)
    except RegistryError:
        return
    if error.code.status == 401:
        grant = call.grant
        if grant is None or grant.identity.is_anonymous:
            return
        action = permissions.PULL if kind == "pull_repo_failed" else permissions.PUSH
        access = await call.rt.db.read(
            permissions.repository_access, call.rt.settings, grant.identity, full.namespace, full.name
        )
        if action in access.actions:
            return
    call.rt.audit_buffer.add(
        kind,
        *call.performer,
        repository_name=f"{full.namespace}/{full.name}",
        namespace=full.namespace,
        repo=full.name,
        reference=reference[:200],
        error=error.code.code,
        **call.details,
    )


async def get_manifest(call: Call, name: str, reference: str, head: bool) -> Response:
    try:
        response, repo, digest = await _get_manifest(call, name, reference, head)
    except RegistryError as e:
        if not head:
            await _log_failure(call, "pull_repo_failed", name, reference, e)
        raise
    if head:
        return response
    # Pulls change nothing: their entries and counters are written in batches, off the request's path.
    tag = None if is_digest(reference) else reference
    settings = call.rt.settings
    if settings.FEATURE_IMAGE_PULL_STATS:
        call.rt.audit_buffer.pulled(repo.id, tag, digest)
    if settings.ACTION_LOG_PULLS:
        call.rt.audit_buffer.add(
            "pull_repo",
            *call.performer,
            namespace_id=repo.namespace_id,
            repository_id=repo.id,
            namespace=repo.namespace,
            repo=repo.name,
            tag=tag,
            manifest_digest=digest,
            **call.details,
        )
    return response


async def _get_manifest(
    call: Call, name: str, reference: str, head: bool
) -> tuple[Response, RepositoryRecord, str]:
    accept = ", ".join(call.request.headers.getlist("accept"))
    # A GET is refused by a pull policy, a HEAD is not: clients HEAD first to learn the digest,
    # and a HEAD's refusal has no body, so the client could not show the policy's message.
    repo, record = await _repo.read_manifest(call, name, reference, enforce_policy=not head)
    # By digest the client names exact bytes; only a tag is open to negotiation.
    if not is_digest(reference) and not accepts(accept, record.media_type):
        record = await _negotiate(call, name, record, accept, head)
    headers = {
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
        "Content-Length": str(len(record.content)),
    }
    response = Response(
        b"" if head else record.content, status_code=200, headers=headers, media_type=record.media_type
    )
    return response, repo, record.digest


async def _negotiate(
    call: Call, name: str, record: manifests.ManifestRecord, accept: str, head: bool
) -> manifests.ManifestRecord:
    """A tag whose manifest the client's Accept does not list, answered as Quay answers it.

    An index or manifest list gives its linux/amd64 child, whatever the child's type (Quay then
    converts that child to what the client accepts, schema 1 at the last resort); one without a
    linux/amd64 child, or whose child is not in the repository, is MANIFEST_UNKNOWN, as on Quay.
    Any other manifest is returned as stored: Quay would convert it to schema 1, which Wharf
    does not write, so the client gets the stored type and decides (docker and pubtools-quay read
    `Content-Type`)."""
    if record.media_type not in mt.INDEXES:
        return record
    child = default_platform_child(record.content, fallback=False)
    if child is not None:
        try:
            return (await _repo.read_manifest(call, name, child, enforce_policy=not head))[1]
        except RegistryError as e:
            if e.code is not MANIFEST_UNKNOWN:
                raise
    raise RegistryError(
        MANIFEST_UNKNOWN,
        f"the manifest is {record.media_type}, which the Accept header does not list, and it has no "
        "linux/amd64 image to give instead; add the type to Accept",
    )


async def _read_limited(call: Call) -> bytes:
    declared = call.request.headers.get("content-length")
    if declared is not None and (not declared.isascii() or not declared.isdigit()):
        raise RegistryError(SIZE_INVALID, "Content-Length is not a number")
    if declared is not None and (len(declared) > 19 or int(declared) > MAX_MANIFEST_BYTES):
        raise RegistryError(TOO_LARGE, "manifests may be at most 4 MiB")
    parts: list[bytes] = []
    total = 0
    try:
        async for chunk in call.request.stream():
            total += len(chunk)
            if total > MAX_MANIFEST_BYTES:
                raise RegistryError(TOO_LARGE, "manifests may be at most 4 MiB")
            parts.append(chunk)
    except ClientDisconnect:
        raise RegistryError(
            MANIFEST_INVALID, "the client went away before the manifest was complete"
        ) from None
    return b"".join(parts)


async def put_manifest(call: Call, name: str, reference: str) -> Response:
    try:
        return await _put_manifest(call, name, reference)
    except RegistryError as e:
        await _log_failure(call, "push_repo_failed", name, reference, e)
        raise


async def _put_manifest(call: Call, name: str, reference: str) -> Response:
    # The repository is looked up (or created) in the transaction that stores the manifest.
    target = await _repo.for_first_write(call, name)
    body = await _read_limited(call)
    content_type = call.request.headers.get("content-type")
    try:
        record = await pushes.put_manifest(
            call.rt.db,
            call.rt.store,
            target,
            reference,
            body,
            content_type,
            call.actor,
            scan=call.rt.settings.FEATURE_SECURITY_SCANNER,
            quota=quotas.enforcement(call.rt.settings),
        )
    except DomainError as e:
        raise call.failed(e) from None
    headers = {
        "Location": f"/v2/{name}/manifests/{record.digest}",
        "Docker-Content-Digest": record.digest,
        "Content-Length": "0",
    }
    if record.subject_digest:
        headers["OCI-Subject"] = record.subject_digest
    return Response(status_code=201, headers=headers)


async def delete_manifest(call: Call, name: str, reference: str) -> Response:
    repo = await _repo.for_write(call, name, permissions.PUSH, permissions.ALL, "delete")
    try:
        await call.rt.db.write(manifests.delete, repo, reference, call.actor)
    except DomainError as e:
        raise call.failed(e) from None
    return Response(status_code=202, headers={"Content-Length": "0"})


async def referrers(call: Call, name: str, subject: str) -> Response:
    try:
        digest = Digest.parse(subject)
    except DigestError as e:
        raise RegistryError(DIGEST_INVALID, str(e)) from None
    artifact_type = call.request.query_params.get("artifactType")
    repository = _repo.may_pull(call, name)
    try:
        found = await pulls.referrers(call.rt, call.grant, name, repository, str(digest), artifact_type)
    except DomainError as e:
        raise call.failed(e) from None
    descriptors: list[dict[str, Any]] = []
    for r in found:
        d: dict[str, Any] = {"mediaType": r.media_type, "digest": r.digest, "size": r.size}
        if r.artifact_type:
            d["artifactType"] = r.artifact_type
        if r.annotations:
            d["annotations"] = r.annotations
        descriptors.append(d)
    body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}).encode()
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
    return Response(body, status_code=200, headers=headers, media_type=mt.OCI_INDEX)

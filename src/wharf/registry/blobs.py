"""Blob and upload endpoints: /v2/<name>/blobs/<digest> and /v2/<name>/blobs/uploads/..."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from wharf.auth import permissions
from wharf.core import blobs, uploads
from wharf.core.errors import DomainError, InvalidSize
from wharf.http_ext import SENDFILE
from wharf.oci import ranges
from wharf.oci.digest import Digest, DigestError
from wharf.oci.names import RepositoryName
from wharf.registry import _repo
from wharf.registry.context import Call
from wharf.registry.errors import (
    BLOB_UNKNOWN,
    BLOB_UPLOAD_INVALID,
    DIGEST_INVALID,
    RANGE_INVALID,
    SIZE_INVALID,
    RegistryError,
)
from wharf.services import proxy_cache, proxy_cache_blobs, pulls
from wharf.storage.base import PathNotFound, blob_path


def _digest(value: str | None) -> Digest:
    if not value:
        raise RegistryError(DIGEST_INVALID, "the digest parameter is required")
    try:
        return Digest.parse(value)
    except DigestError as e:
        raise RegistryError(DIGEST_INVALID, str(e)) from None


# The hottest path of a pull, kept in one piece: headers, range, HEAD, redirect, sendfile, stream.
async def get_blob(call: Call, name: str, reference: str, head: bool) -> Response:  # noqa: C901
    digest = _digest(reference)
    repository = _repo.may_pull(call, name)
    try:
        blob = await pulls.blob(call.rt, call.grant, name, repository, str(digest))
    except DomainError as e:
        raise call.failed(e) from None
    if blob is None:
        return await _pull_through(call, name, repository, digest, head)
    headers = {
        "Docker-Content-Digest": blob.digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{blob.digest}"',
        "Cache-Control": "max-age=31536000",
    }
    start, end = 0, blob.size - 1
    status = 200
    range_header = call.request.headers.get("range")
    if range_header:
        try:
            start, end = ranges.parse_range(range_header, blob.size)
        except ranges.RangeError as e:
            raise RegistryError(
                RANGE_INVALID, str(e), headers={"Content-Range": f"bytes */{blob.size}"}
            ) from None
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    length = end - start + 1 if blob.size else 0
    headers["Content-Length"] = str(length)
    if head:
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")
    path = blob_path(digest)
    redirect = await call.rt.store.redirect_url(path)
    if redirect is not None and status == 200:
        return Response(status_code=307, headers={"Location": redirect, "Docker-Content-Digest": blob.digest})
    if SENDFILE in call.request.scope.get("extensions", {}):
        try:
            fd = await call.rt.store.open_file(path)
        except PathNotFound:
            raise RegistryError(BLOB_UNKNOWN, f"blob {digest} is missing from storage") from None
        if fd is not None:
            return _FileResponse(fd, start, length, status, headers)
    stream = call.rt.store.read(path, start, length)
    try:
        first = await anext(stream, b"")
    except PathNotFound:
        raise RegistryError(BLOB_UNKNOWN, f"blob {digest} is missing from storage") from None

    async def body() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(
        body(), status_code=status, headers=headers, media_type="application/octet-stream"
    )


async def _pull_through(
    call: Call, name: str, repository: RepositoryName, digest: Digest, head: bool
) -> Response:
    """A blob this repository lacks: from the upstream when its namespace is a proxy cache (the
    normal path pays nothing: this runs only for a missing blob)."""
    proxy = await proxy_cache.config_for(call.rt, repository.namespace)
    if proxy is None:
        raise RegistryError(BLOB_UNKNOWN, f"blob {digest} is not in {name}")
    try:
        pulled = await proxy_cache_blobs.blob(call.rt, proxy, call.grant, repository, digest, head=head)
    except DomainError as e:
        raise call.failed(e) from None
    headers = {"Docker-Content-Digest": str(digest)}
    if pulled.size is not None:
        headers["Content-Length"] = str(pulled.size)
    if pulled.chunks is None:
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    return StreamingResponse(
        pulled.chunks, status_code=200, headers=headers, media_type="application/octet-stream"
    )


class _FileResponse(Response):
    """`length` bytes of an open file from `start`, sent by the server with sendfile(2) (the
    SENDFILE extension): no read into Python, no thread per chunk. The file is closed after."""

    def __init__(self, fd: int, start: int, length: int, status: int, headers: dict[str, str]) -> None:
        super().__init__(status_code=status, headers=headers, media_type="application/octet-stream")
        self.fd, self.start, self.length = fd, start, length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            await send({"type": SENDFILE, "file": self.fd, "offset": self.start, "count": self.length})
        finally:
            os.close(self.fd)


async def delete_blob(call: Call, name: str, reference: str) -> Response:
    repo = await _repo.for_write(call, name, permissions.PUSH, permissions.ALL, "delete")
    digest = _digest(reference)
    try:
        await call.rt.db.write(blobs.unlink, repo.id, str(digest))
    except DomainError as e:
        raise call.failed(e) from None
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest), "Content-Length": "0"})


def _upload_headers(name: str, upload: uploads.UploadState) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
        "Docker-Upload-UUID": upload.id,
        "Range": f"0-{max(upload.offset - 1, 0)}",
        "Content-Length": "0",
    }


def _blob_created(name: str, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise RegistryError(
            BLOB_UPLOAD_INVALID, "the client went away before the body was complete"
        ) from None


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return ranges.parse_count(raw, "Content-Length")
    except ranges.RangeError as e:
        raise RegistryError(SIZE_INVALID, str(e)) from None


async def start_upload(call: Call, name: str) -> Response:
    # The repository is looked up (or, on a first push, created) in the transaction that opens the
    # upload or mounts the blob.
    repo = await _repo.for_first_write(call, name)
    params = call.request.query_params
    rt = call.rt
    mount, source = params.get("mount"), params.get("from")
    if mount is not None:
        digest = _digest(mount)
        if source and await _mount(call, repo, source, digest):
            return _blob_created(name, str(digest))
    try:
        limits = uploads.UploadLimits(
            rt.settings.UPLOADS_MAX_PER_REPOSITORY, rt.settings.UPLOADS_MAX_PER_ACCOUNT
        )
        if "digest" in params:
            # A whole blob in the POST: its upload is opened claimed, and `finish` releases it.
            digest = _digest(params.get("digest"))
            length = _declared_length(call.request)
            claim = await uploads.start_held(rt.db, rt.store, repo, limits)
            upload = claim.upload
            try:
                blob = await uploads.finish(
                    rt.db,
                    rt.store,
                    claim,
                    digest,
                    _body(call.request),
                    length=length,
                )
            except BaseException:
                await _cancel_quietly(call, upload)
                raise
            return _blob_created(name, blob.digest)
        upload = await uploads.start(rt.db, rt.store, repo, limits)
    except DomainError as e:
        raise call.failed(e) from None
    headers = _upload_headers(name, upload)
    return Response(status_code=202, headers=headers)


async def _cancel_quietly(call: Call, upload: uploads.UploadState) -> None:
    with contextlib.suppress(Exception):
        await uploads.cancel(call.rt.db, call.rt.store, upload)


async def _mount(call: Call, repo: uploads.Target, source: str, digest: Digest) -> bool:
    """Link a blob from `source` when the caller may pull it there; False means upload instead."""
    if call.grant is None or not call.grant.allows("repository", source, permissions.PULL):
        return False
    try:
        src = _repo.parse_name(call, source)
    except RegistryError:
        return False
    # A pull the token has only because the source was public holds only while it still is.
    if_public = source in call.grant.public_only

    return await call.rt.db.write(
        uploads.mount, repo, src.namespace, src.name, str(digest), if_public=if_public
    )


def _chunk_bounds(call: Call) -> tuple[int | None, int | None]:
    """(start, length) the client declares for this chunk through Content-Range / Content-Length.
    Read before the upload is claimed: a RANGE_INVALID here gets its Range headers in `_refused`."""
    declared = _declared_length(call.request)
    raw = call.request.headers.get("content-range")
    if raw is None:
        return None, declared
    try:
        start, length = ranges.parse_content_range(raw)
    except ranges.RangeError as e:
        raise RegistryError(RANGE_INVALID, str(e)) from None
    if declared is not None and declared != length:
        raise RegistryError(RANGE_INVALID, "Content-Length differs from Content-Range")
    return start, length


async def _refused(call: Call, name: str, upload_id: str, e: RegistryError) -> RegistryError:
    """A PATCH or PUT whose request itself is wrong (its digest, length or range): the upload is
    looked up first, in a read that claims nothing, so that what was wrong with the upload (or
    the token) is said before what was wrong with the request, and a bad range is answered with
    the upload's offset. Only refused requests pay for this read."""
    upload = await _repo.for_upload(call, name, upload_id)
    if e.code is RANGE_INVALID:
        e.headers = {**e.headers, **_repo.range_headers(upload.id, upload.offset)}
    return e


async def patch_upload(call: Call, name: str, upload_id: str) -> Response:
    try:
        start, length = _chunk_bounds(call)
    except RegistryError as e:
        raise await _refused(call, name, upload_id, e) from None
    # One write transaction finds the upload and claims it; `append` releases the claim.
    claim = await _repo.claim_upload(call, name, upload_id, start)
    try:
        upload = await uploads.append(
            call.rt.db, call.rt.store, claim, _body(call.request), start=start, length=length
        )
    except DomainError as e:
        raise _repo.upload_failed(call, upload_id, e) from None
    return Response(status_code=202, headers=_upload_headers(name, upload))


async def put_upload(call: Call, name: str, upload_id: str) -> Response:
    try:
        digest = _digest(call.request.query_params.get("digest"))
        has_body = (_declared_length(call.request) or 0) > 0 or "chunked" in call.request.headers.get(
            "transfer-encoding", ""
        )
        # A last chunk is written under the same claim as the publication (uploads.finish), so the
        # finishing PUT commits once instead of committing the chunk first.
        start, length = _chunk_bounds(call) if has_body else (None, None)
    except RegistryError as e:
        raise await _refused(call, name, upload_id, e) from None
    if has_body and not start and length is not None and length <= uploads.WHOLE_MAX:
        whole = await _put_whole(call, name, upload_id, digest, length)
        if whole is not None:
            return _blob_created(name, whole.digest)
    # Everything that can be refused without the upload was refused above, before the claim:
    # from here on `finish` holds it, and releases it on every path (client gone, bad digest).
    claim = await _repo.claim_upload(call, name, upload_id, start)
    try:
        blob = await uploads.finish(
            call.rt.db,
            call.rt.store,
            claim,
            digest,
            _body(call.request) if has_body else None,
            start=start,
            length=length,
        )
    except DomainError as e:
        raise _repo.upload_failed(call, upload_id, e) from None
    return _blob_created(name, blob.digest)


async def _put_whole(
    call: Call, name: str, upload_id: str, digest: Digest, length: int
) -> blobs.BlobRecord | None:
    """A small blob sent whole to an empty upload, published without a claim
    (`uploads.publish_whole`): the upload is read (its errors, and the token's, come first, as
    from the claim), the body read into memory. None, the body still unread, when the upload is
    not empty: the claim's path finishes it."""
    upload = await _repo.for_upload(call, name, upload_id)
    if upload.offset != 0:
        return None
    parts: list[bytes] = []
    received = 0
    async for chunk in _body(call.request):
        received += len(chunk)
        if received > length:
            break
        parts.append(chunk)
    try:
        if received != length:
            raise InvalidSize(f"chunk has {received} bytes but its range or length says {length}", offset=0)
        return await uploads.publish_whole(call.rt.db, call.rt.store, upload, digest, b"".join(parts))
    except DomainError as e:
        raise _repo.upload_failed(call, upload_id, e) from None


async def get_upload(call: Call, name: str, upload_id: str) -> Response:
    upload = await _repo.for_upload(call, name, upload_id)
    return Response(status_code=204, headers=_upload_headers(name, upload))


async def delete_upload(call: Call, name: str, upload_id: str) -> Response:
    upload = await _repo.for_upload(call, name, upload_id)
    await uploads.cancel(call.rt.db, call.rt.store, upload)
    return Response(status_code=204, headers={"Content-Length": "0"})

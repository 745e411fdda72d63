"""GET /c1/squash/{namespace}/{repository}/{tag}: the image flattened into one layer, for
`docker load` / `podman load` (Quay's squashed-image download, same URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from wharf.api.access import readable_repository
from wharf.api.deps import Rt, caller
from wharf.api.errors import ApiError, invalid_request, unauthorized
from wharf.auth import credentials
from wharf.auth.address import client_address
from wharf.auth.identity import Identity
from wharf.core import manifests, squash
from wharf.oci import jsondoc
from wharf.oci import mediatypes as mt
from wharf.oci.manifest import ManifestError, default_platform_child, parse_manifest
from wharf.runtime import Runtime
from wharf.storage.base import blob_path

router = APIRouter(include_in_schema=False)


async def _who(rt: Runtime, request: Request) -> Identity:
    """Basic credentials (what `curl -u` sends), else a bearer token or the browser session."""
    basic = credentials.parse_basic(request.headers.get("authorization", ""))
    if basic is None:
        return await caller(request, rt)
    try:
        identity = await credentials.basic_login(
            rt, *basic, client_address(request, rt.settings.TRUSTED_PROXIES)
        )
    except credentials.LoginThrottled as e:
        raise ApiError(429, "invalid_request", str(e), {"Retry-After": str(e.retry_after_s)}) from None
    if identity is None:
        raise unauthorized("invalid username or password")
    return identity


@router.get("/c1/squash/{namespace}/{repository:path}/{tag}")
async def squashed_image(
    rt: Rt, request: Request, namespace: str, repository: str, tag: str
) -> StreamingResponse:
    who = await _who(rt, request)
    repo = (await readable_repository(rt, who, f"{namespace}/{repository}")).repo
    record = await rt.db.read(manifests.get, repo.id, tag)
    if record.media_type in mt.INDEXES:
        child = default_platform_child(record.content)
        if child is None:
            raise invalid_request("the index has no linux/amd64 image to squash")
        record = await rt.db.read(manifests.get, repo.id, child)
    try:
        parsed = parse_manifest(record.content, record.media_type)
    except ManifestError as e:
        raise invalid_request(f"the manifest cannot be read: {e}") from None
    if parsed.config_media_type not in mt.IMAGE_CONFIGS:
        raise invalid_request("only container images can be squashed, not other artifacts")
    config_blob, *layers = parsed.blobs
    try:
        config = jsondoc.loads(await rt.store.get_bytes(blob_path(config_blob.digest)))
    except jsondoc.JsonError as e:
        raise invalid_request(f"the image configuration cannot be read: {e}") from None
    repo_tag = f"{rt.settings.public_host}/{repo.namespace}/{repo.name}:{tag}"
    filename = f"{repo.name.replace('/', '_')}-{tag}.squash.tar"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    cached = squash.cache_path(record.digest)
    if await rt.store.stat(cached) is not None:
        return StreamingResponse(rt.store.read(cached), media_type="application/x-tar", headers=headers)
    layer_id = record.digest.split(":", 1)[1]
    layer_list = [(str(d.digest), d.media_type) for d in layers]
    for _d, media_type in layer_list:
        if media_type not in squash.SUPPORTED_LAYERS:
            raise invalid_request(f"layers of type {media_type} cannot be squashed")
    return StreamingResponse(
        _stream_and_cache(rt, layer_list, config, repo_tag, layer_id, cached),
        media_type="application/x-tar",
        headers=headers,
    )


async def _stream_and_cache(
    rt: Runtime,
    layers: list[tuple[str, str]],
    config: dict[str, object],
    repo_tag: str,
    layer_id: str,
    cached: str,
) -> AsyncIterator[bytes]:
    """Stream while flattening, and keep a copy: the next download is served from it."""
    staging = squash.staging_path()
    writer = await rt.store.writer(staging)
    complete = False
    try:
        async for chunk in squash.stream_squashed(rt.store, layers, config, repo_tag, layer_id):
            await writer.write(chunk)
            yield chunk
        await writer.close()
        await rt.store.move(staging, cached)
        complete = True
    finally:
        if not complete:
            await writer.cancel()
            await rt.store.delete(staging)

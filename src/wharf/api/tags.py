"""/api/v1/repository/{R}/tag/... and /manifest/...: tags with their history (the time machine),
expiration, immutability, manifests and their labels."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.access import ReadableRepository, WritableRepository, writable_repository
from wharf.api.deps import Caller, Rt, User, actor
from wharf.api.errors import invalid_request, not_found
from wharf.core import accounts, labels, manifests, pull_stats, tag_changes, tags
from wharf.core.repositories import RepositoryRecord
from wharf.oci import history
from wharf.oci import mediatypes as mt
from wharf.oci.digest import is_digest
from wharf.oci.manifest import Descriptor, ManifestError, parse_manifest
from wharf.storage.base import StorageError, blob_path

router = APIRouter(prefix="/repository", tags=["tag"])

MAX_PAGE = 100
MAX_PAGE_NUMBER = 1_000_000  # pages past it are as empty as the last one; keeps the offset a 64-bit number


class ChangeTag(BaseModel):
    manifest_digest: str | None = Field(default=None, max_length=200)
    expiration: int | None = Field(default=None, description="Epoch seconds; null removes the expiration.")
    immutable: bool | None = None


class RestoreTag(BaseModel):
    manifest_digest: str = Field(max_length=200)


class ExpireTag(BaseModel):
    manifest_digest: str = Field(max_length=200)
    include_submanifests: bool = False
    is_alive: bool = False


class AddLabel(BaseModel):
    key: str = Field(max_length=255)
    value: str = Field(max_length=65536)
    media_type: str | None = None


def _seconds(ms: int | None) -> int | None:
    return ms // 1000 if ms is not None else None


def _lifetime_view(t: tags.TagLifetime, children: dict[str, dict[str, bool]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": t.name,
        "reversion": t.reversion,
        "start_ts": _seconds(t.start_ms),
        "manifest_digest": t.manifest_digest,
        "is_manifest_list": t.media_type in mt.INDEXES,
        "size": t.size,
        "last_modified": views.date(t.start_ms),
        "immutable": t.immutable,
    }
    if t.end_ms is not None:
        out["end_ts"] = _seconds(t.end_ms)
        out["expiration"] = views.date(t.end_ms)
    if out["is_manifest_list"]:
        listed = children.get(t.manifest_digest, {})
        present = sum(1 for held in listed.values() if held)
        # Sparse: a mirror filtered by architecture stores the index without the other images.
        out["is_sparse"] = present < len(listed)
        out["child_manifest_count"] = len(listed)
        out["present_child_count"] = present
        out["child_manifests_presence"] = listed
    return out


async def _window_ms(rt: Rt, repo: RepositoryRecord) -> int:
    namespace = await rt.db.read(accounts.get_by_id, repo.namespace_id)
    assert namespace is not None
    return views.tag_expiration_s(rt, namespace) * 1000


@router.get("/{repository:path}/tag/", operation_id="listRepoTags", summary="List tags, with their history")
async def list_repo_tags(
    rt: Rt,
    target: ReadableRepository,
    who: Caller,
    repository: str,
    specificTag: str | None = None,
    filter_tag_name: str | None = None,
    onlyActiveTags: bool = False,
    page: int = 1,
    limit: int = 50,
) -> dict[str, Any]:
    repo = target.repo
    page, limit = min(max(1, page), MAX_PAGE_NUMBER), min(max(1, limit), MAX_PAGE)
    name, like = specificTag, None
    if filter_tag_name:
        op, _, operand = filter_tag_name.partition(":")
        if op == "eq" and operand:
            name = operand
        elif op == "like" and operand:
            like = operand
        else:
            raise invalid_request("filter_tag_name is like:<text> or eq:<name>")

    found, children = await rt.db.read(
        tag_changes.history_page,
        repo,
        only_alive=onlyActiveTags,
        name=name,
        name_like=like,
        offset=(page - 1) * limit,
        limit=limit,
    )
    return {
        "tags": [_lifetime_view(t, children) for t in found[:limit]],
        "page": page,
        "has_additional": len(found) > limit,
    }


def _pull_statistics_on(rt: Rt) -> None:
    if not rt.settings.FEATURE_IMAGE_PULL_STATS:
        raise not_found("pull statistics are turned off on this registry (FEATURE_IMAGE_PULL_STATS)")


@router.get(
    "/{repository:path}/tag/{tag}/pull_statistics",
    operation_id="getTagPullStatistics",
    summary="Pull count and last pull of a tag and of the manifest it points at",
)
async def get_tag_pull_statistics(
    rt: Rt, target: ReadableRepository, who: Caller, repository: str, tag: str
) -> dict[str, Any]:
    """Counts are written with the usage-log batches: a pull shows here within about a second."""
    _pull_statistics_on(rt)
    found = await rt.db.read(pull_stats.tag_report, target.repo.id, tag)
    if found is None:
        raise not_found(f"there is no tag {tag[:128]} in this repository")
    return {
        "tag_name": found.name,
        "tag_pull_count": found.tag.count,
        "last_tag_pull_date": views.date(found.tag.last_ms),
        "current_manifest_digest": found.manifest_digest,
        "manifest_pull_count": found.manifest.count,
        "last_manifest_pull_date": views.date(found.manifest.last_ms),
    }


@router.get(
    "/{repository:path}/manifest/{manifestref}/pull_statistics",
    operation_id="getManifestPullStatistics",
    summary="Pull count and last pull of a manifest, by tag and by digest",
)
async def get_manifest_pull_statistics(
    rt: Rt, target: ReadableRepository, who: Caller, repository: str, manifestref: str
) -> dict[str, Any]:
    _pull_statistics_on(rt)
    if not is_digest(manifestref):
        raise invalid_request("manifestref must be a digest (sha256:...)")
    found = await rt.db.read(pull_stats.manifest_report, target.repo.id, manifestref)
    if found is None:
        raise not_found(f"manifest {manifestref[:200]} is not in this repository")
    return {
        "manifest_digest": manifestref,
        "manifest_pull_count": found.count,
        "last_manifest_pull_date": views.date(found.last_ms),
    }


@router.put(
    "/{repository:path}/tag/{tag}",
    operation_id="changeTag",
    summary="Create or move a tag, set its expiration or make it immutable",
    status_code=201,
)
async def change_tag(
    rt: Rt, repo: WritableRepository, who: User, repository: str, tag: str, body: ChangeTag
) -> Response:
    tag_changes.check_tag(tag)
    given = body.model_fields_set
    if body.immutable is not None and not rt.settings.FEATURE_IMMUTABLE_TAGS:
        raise invalid_request("immutable tags are turned off on this registry (FEATURE_IMMUTABLE_TAGS)")
    await rt.db.write(
        tag_changes.change,
        repo,
        tag,
        digest=body.manifest_digest,
        expiration="expiration" in given,
        expires_ms=body.expiration * 1000 if body.expiration is not None else None,
        immutable=body.immutable,
        actor=actor(who),
    )
    return JSONResponse("Updated", status_code=201)


@router.delete(
    "/{repository:path}/tag/{tag}",
    operation_id="deleteFullTag",
    summary="Delete a tag (it stays restorable within the time-machine window)",
    status_code=204,
)
async def delete_full_tag(rt: Rt, repo: WritableRepository, who: User, repository: str, tag: str) -> Response:
    await rt.db.write(tag_changes.delete, repo, tag, actor(who))
    return Response(status_code=204)


@router.post(
    "/{repository:path}/tag/{tag}/restore",
    operation_id="restoreTag",
    summary="Point a tag back at a manifest from its history (time machine)",
)
async def restore_tag(
    rt: Rt, repo: WritableRepository, who: User, repository: str, tag: str, body: RestoreTag
) -> dict[str, Any]:
    window_ms = await _window_ms(rt, repo)
    await rt.db.write(tag_changes.revert, repo, tag, body.manifest_digest, window_ms, actor(who))
    return {}


@router.post(
    "/{repository:path}/tag/{tag}/expire",
    operation_id="removeTagFromTimemachine",
    summary="Remove a tag's past lifetimes on a manifest from the time machine, for good",
)
async def remove_tag_from_timemachine(
    rt: Rt, who: User, repository: str, tag: str, body: ExpireTag
) -> dict[str, Any]:
    if not rt.settings.PERMANENTLY_DELETE_TAGS:
        raise not_found("permanent tag deletion is turned off (PERMANENTLY_DELETE_TAGS)")
    repo = await writable_repository(rt, who, repository)
    removed = await rt.db.write(
        tag_changes.forget, repo, tag, body.manifest_digest, body.is_alive, actor(who)
    )
    if not removed:
        raise not_found(f"tag {tag!r} has no past lifetime on {body.manifest_digest}")
    return {}


def _layer_view(index: int, layer: history.Layer) -> dict[str, Any]:
    step = layer.step
    return {
        "index": index,
        "compressed_size": layer.blob.size if layer.blob else history.EMPTY_LAYER_SIZE,
        "is_remote": layer.blob.has_urls if layer.blob else False,
        "urls": None,
        "command": step.command if step else None,
        "comment": step.comment if step else None,
        "author": step.author if step else None,
        "blob_digest": str(layer.blob.digest) if layer.blob else history.EMPTY_LAYER_DIGEST,
        "created_datetime": views.date(step.created_ms) if step else None,
    }


async def _image_config(rt: Rt, config: Descriptor) -> bytes | None:
    """The image configuration, to read its history from; None when it cannot be read."""
    if config.media_type not in mt.IMAGE_CONFIGS or config.size > history.MAX_CONFIG_BYTES:
        return None
    try:
        return await rt.store.get_bytes(blob_path(config.digest))
    except StorageError:
        return None


@router.get(
    "/{repository:path}/manifest/{manifestref}", operation_id="getRepoManifest", summary="Get a manifest"
)
async def get_repo_manifest(
    rt: Rt, target: ReadableRepository, who: Caller, repository: str, manifestref: str
) -> dict[str, Any]:
    repo = target.repo
    if not is_digest(manifestref):
        raise invalid_request("manifestref must be a digest (sha256:...)")
    record = await rt.db.read(manifests.get, repo.id, manifestref)
    try:
        parsed = parse_manifest(record.content, record.media_type)
    except ManifestError:
        parsed = None
    is_list = record.media_type in mt.INDEXES
    layers: list[dict[str, Any]] | None = None
    blobs: list[Descriptor] = []
    if parsed is not None and not parsed.is_index:
        blobs = list(parsed.blobs)
        config = await _image_config(rt, blobs.pop(0)) if parsed.config_media_type and blobs else None
        layers = [_layer_view(i, layer) for i, layer in enumerate(history.layers(config, blobs))]
    out: dict[str, Any] = {
        "digest": record.digest,
        "is_manifest_list": is_list,
        "manifest_data": record.content.decode("utf-8", errors="replace"),
        "config_media_type": parsed.config_media_type if parsed else None,
        "layers": layers or None,
        "layers_compressed_size": sum(b.size for b in blobs),
    }
    if is_list:
        out["manifests"] = _children(record.content)
    return out


def _children(content: bytes) -> list[dict[str, Any]]:
    """The images an index lists, with their platforms (the index was validated at push)."""
    entries = json.loads(content).get("manifests") or []
    return [
        {
            "digest": e.get("digest"),
            "media_type": e.get("mediaType"),
            "size": e.get("size"),
            "platform": e.get("platform"),
        }
        for e in entries
        if isinstance(e, dict)
    ]


def _label_view(label: labels.LabelRecord) -> dict[str, Any]:
    return {
        "id": label.uuid,
        "key": label.key,
        "value": label.value,
        "source_type": label.source_type,
        "media_type": label.media_type,
    }


@router.get(
    "/{repository:path}/manifest/{manifestref}/labels",
    operation_id="listManifestLabels",
    summary="List a manifest's labels",
)
async def list_manifest_labels(
    rt: Rt,
    target: ReadableRepository,
    who: Caller,
    repository: str,
    manifestref: str,
    filter: str | None = None,
) -> dict[str, Any]:
    repo = target.repo

    found = await rt.db.read(tag_changes.labels_of, repo, manifestref, filter)
    return {"labels": [_label_view(label) for label in found]}


@router.get(
    "/{repository:path}/manifest/{manifestref}/labels/{labelid}",
    operation_id="getManifestLabel",
    summary="Get one label of a manifest",
)
async def get_manifest_label(
    rt: Rt, target: ReadableRepository, who: Caller, repository: str, manifestref: str, labelid: str
) -> dict[str, Any]:
    repo = target.repo

    return _label_view(await rt.db.read(tag_changes.label_of, repo, manifestref, labelid))


@router.post(
    "/{repository:path}/manifest/{manifestref}/labels",
    operation_id="addManifestLabel",
    summary="Add a label to a manifest (quay.expires-after also schedules its tags' expiry)",
    status_code=201,
)
async def add_manifest_label(
    rt: Rt, repo: WritableRepository, who: User, repository: str, manifestref: str, body: AddLabel
) -> dict[str, Any]:
    label = await rt.db.write(
        tag_changes.add_label, repo, manifestref, body.key, body.value, body.media_type, actor(who)
    )
    return {"label": _label_view(label)}


@router.delete(
    "/{repository:path}/manifest/{manifestref}/labels/{labelid}",
    operation_id="deleteManifestLabel",
    summary="Delete a label added through the API",
    status_code=204,
)
async def delete_manifest_label(
    rt: Rt, repo: WritableRepository, who: User, repository: str, manifestref: str, labelid: str
) -> Response:
    await rt.db.write(tag_changes.remove_label, repo, manifestref, labelid, actor(who))
    return Response(status_code=204)

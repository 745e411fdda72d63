"""/api/v1/repository/{R}/tag/... and /manifest/...: tags with their history (the time machine),
expiration, immutability, manifests and their labels."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.deps import Caller, Rt, User, actor
from wharf.api.errors import invalid_request, not_found
from wharf.api.permissions import repository_with_role
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, labels, manifests, repositories, tag_changes, tags
from wharf.core.errors import ReadOnly
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.oci import mediatypes as mt
from wharf.oci.digest import is_digest
from wharf.oci.manifest import ManifestError, parse_manifest

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


def _lifetime_view(t: tags.TagLifetime) -> dict[str, Any]:
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
    return out


async def _writable(rt: Rt, who: Identity, repository: str) -> RepositoryRecord:
    repo, _ = await repository_with_role(rt, who, repository, permissions.WRITE)
    if repo.state != repositories.NORMAL:
        raise ReadOnly(f"{repository} is not in the NORMAL state and accepts no changes")
    return repo


async def _window_ms(rt: Rt, repo: RepositoryRecord) -> int:
    namespace = await rt.db.read(accounts.get_by_id, repo.namespace_id)
    assert namespace is not None
    return views.tag_expiration_s(rt, namespace) * 1000


@router.get("/{repository:path}/tag/", operation_id="listRepoTags", summary="List tags, with their history")
async def list_repo_tags(
    rt: Rt,
    who: Caller,
    repository: str,
    specificTag: str | None = None,
    filter_tag_name: str | None = None,
    onlyActiveTags: bool = False,
    page: int = 1,
    limit: int = 50,
) -> dict[str, Any]:
    repo, _ = await repository_with_role(rt, who, repository, permissions.READ)
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
    found = await rt.db.read(
        tags.history,
        repo.id,
        only_alive=onlyActiveTags,
        name=name,
        name_like=like,
        offset=(page - 1) * limit,
        limit=limit + 1,
    )
    return {
        "tags": [_lifetime_view(t) for t in found[:limit]],
        "page": page,
        "has_additional": len(found) > limit,
    }


@router.put(
    "/{repository:path}/tag/{tag}",
    operation_id="changeTag",
    summary="Create or move a tag, set its expiration or make it immutable",
    status_code=201,
)
async def change_tag(rt: Rt, who: User, repository: str, tag: str, body: ChangeTag) -> Response:
    repo = await _writable(rt, who, repository)
    tag_changes.check_tag(tag)
    given = body.model_fields_set
    if body.immutable is not None and not rt.settings.FEATURE_IMMUTABLE_TAGS:
        raise invalid_request("immutable tags are turned off on this registry (FEATURE_IMMUTABLE_TAGS)")
    by = actor(who)

    def apply(db: Db) -> None:
        if body.manifest_digest is not None:
            tag_changes.point(db, repo, tag, body.manifest_digest, by)
        if "expiration" in given:
            expires_ms = body.expiration * 1000 if body.expiration is not None else None
            tag_changes.set_expiration(db, repo, tag, expires_ms, by)
        if body.immutable is not None:
            tag_changes.set_immutable(db, repo, tag, body.immutable, by)

    await rt.db.write(apply)
    return JSONResponse("Updated", status_code=201)


@router.delete(
    "/{repository:path}/tag/{tag}",
    operation_id="deleteFullTag",
    summary="Delete a tag (it stays restorable within the time-machine window)",
    status_code=204,
)
async def delete_full_tag(rt: Rt, who: User, repository: str, tag: str) -> Response:
    repo = await _writable(rt, who, repository)
    await rt.db.write(tag_changes.delete, repo, tag, actor(who))
    return Response(status_code=204)


@router.post(
    "/{repository:path}/tag/{tag}/restore",
    operation_id="restoreTag",
    summary="Point a tag back at a manifest from its history (time machine)",
)
async def restore_tag(rt: Rt, who: User, repository: str, tag: str, body: RestoreTag) -> dict[str, Any]:
    repo = await _writable(rt, who, repository)
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
    repo = await _writable(rt, who, repository)
    removed = await rt.db.write(
        tag_changes.forget, repo, tag, body.manifest_digest, body.is_alive, actor(who)
    )
    if not removed:
        raise not_found(f"tag {tag!r} has no past lifetime on {body.manifest_digest}")
    return {}


def _layers(content: bytes, media_type: str) -> tuple[list[dict[str, Any]], str | None]:
    try:
        parsed = parse_manifest(content, media_type)
    except ManifestError:
        return [], None
    if parsed.is_index:
        return [], None
    layers = [
        {
            "index": i,
            "compressed_size": d.size,
            "is_remote": d.has_urls,
            "urls": None,
            "command": None,
            "comment": None,
            "author": None,
            "blob_digest": str(d.digest),
            "created_datetime": None,
        }
        for i, d in enumerate(parsed.blobs[1:] if parsed.config_media_type else parsed.blobs)
    ]
    return layers, parsed.config_media_type


@router.get(
    "/{repository:path}/manifest/{manifestref}", operation_id="getRepoManifest", summary="Get a manifest"
)
async def get_repo_manifest(rt: Rt, who: Caller, repository: str, manifestref: str) -> dict[str, Any]:
    repo, _ = await repository_with_role(rt, who, repository, permissions.READ)
    if not is_digest(manifestref):
        raise invalid_request("manifestref must be a digest (sha256:...)")
    record = await rt.db.read(manifests.get, repo.id, manifestref)
    layers, config_media_type = _layers(record.content, record.media_type)
    out: dict[str, Any] = {
        "digest": record.digest,
        "is_manifest_list": record.media_type in mt.INDEXES,
        "manifest_data": record.content.decode("utf-8", errors="replace"),
        "config_media_type": config_media_type,
        "layers": layers or None,
        "layers_compressed_size": sum(layer["compressed_size"] for layer in layers),
    }
    if record.media_type in mt.INDEXES:
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
    rt: Rt, who: Caller, repository: str, manifestref: str, filter: str | None = None
) -> dict[str, Any]:
    repo, _ = await repository_with_role(rt, who, repository, permissions.READ)

    def read(db: Db) -> list[labels.LabelRecord]:
        return labels.list_for(db, tag_changes.manifest_id(db, repo, manifestref), filter)

    return {"labels": [_label_view(label) for label in await rt.db.read(read)]}


@router.get(
    "/{repository:path}/manifest/{manifestref}/labels/{labelid}",
    operation_id="getManifestLabel",
    summary="Get one label of a manifest",
)
async def get_manifest_label(
    rt: Rt, who: Caller, repository: str, manifestref: str, labelid: str
) -> dict[str, Any]:
    repo, _ = await repository_with_role(rt, who, repository, permissions.READ)

    def read(db: Db) -> labels.LabelRecord:
        return labels.get(db, tag_changes.manifest_id(db, repo, manifestref), labelid)

    return _label_view(await rt.db.read(read))


@router.post(
    "/{repository:path}/manifest/{manifestref}/labels",
    operation_id="addManifestLabel",
    summary="Add a label to a manifest (quay.expires-after also schedules its tags' expiry)",
    status_code=201,
)
async def add_manifest_label(
    rt: Rt, who: User, repository: str, manifestref: str, body: AddLabel
) -> dict[str, Any]:
    repo = await _writable(rt, who, repository)
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
    rt: Rt, who: User, repository: str, manifestref: str, labelid: str
) -> Response:
    repo = await _writable(rt, who, repository)
    await rt.db.write(tag_changes.remove_label, repo, manifestref, labelid, actor(who))
    return Response(status_code=204)

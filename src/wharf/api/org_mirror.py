"""/api/v1/organization/{orgname}/mirror: organization mirroring with Quay's paths, operation ids
and fields (getOrgMirrorConfig, createOrgMirrorConfig, updateOrgMirrorConfig,
deleteOrgMirrorConfig, syncOrgMirrorNow, cancelOrgMirrorSync, verifyOrgMirrorConnection,
listOrgMirrorRepositories), with FEATURE_ORG_MIRROR. Every operation needs the organization's
admin role."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from wharf.api.access import AdminOrg
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import invalid_request, not_found
from wharf.core import mirrors, org_mirror_repos, org_mirrors
from wharf.runtime import Runtime
from wharf.services import org_mirroring

router = APIRouter(prefix="/organization", tags=["organization"])


class OrgMirrorConfigBody(BaseModel):
    """CreateOrgMirrorConfig and UpdateOrgMirrorConfig (which lacks the type)."""

    external_registry_type: Literal["harbor", "quay"] | None = None
    external_registry_url: str | None = Field(default=None, max_length=1024)
    external_namespace: str | None = Field(default=None, max_length=255)
    robot_username: str | None = Field(default=None, max_length=255)
    visibility: Literal["public", "private"] | None = None
    sync_interval: int | None = None
    sync_start_date: str | None = Field(default=None, max_length=32)
    is_enabled: bool | None = None
    external_registry_username: str | None = Field(default=None, max_length=1024)
    external_registry_password: str | None = Field(default=None, max_length=4096)
    external_registry_config: dict[str, Any] | None = None
    repository_filters: list[str] | None = None
    architecture_filter: list[str] | None = None
    skopeo_timeout: int | None = None

    def as_settings(self) -> org_mirrors.Settings:
        return org_mirrors.Settings(
            external_registry_type=self.external_registry_type,
            external_registry_url=self.external_registry_url,
            external_namespace=self.external_namespace,
            robot_username=self.robot_username,
            visibility=self.visibility,
            sync_interval=self.sync_interval,
            sync_start_ms=mirrors.parse_date(self.sync_start_date) if self.sync_start_date else None,
            is_enabled=self.is_enabled,
            username=self.external_registry_username,
            password=self.external_registry_password,
            external_registry_config=self.external_registry_config,
            repository_filters=self.repository_filters,
            architecture_filter=self.architecture_filter,
            skopeo_timeout=self.skopeo_timeout,
        )


# Quay's OrgMirrorRepoStatus names for a repository mirror's sync_status.
_QUAY_STATUS = {mirrors.SYNC_SUCCESS: "SUCCESS", mirrors.SYNC_FAILED: "FAIL"}


def _quay_status(d: org_mirror_repos.Discovered) -> str:
    """Quay's per-repository status: SKIP for one the filters leave out, FAIL for one that could
    not be created, else its repository mirror's sync status."""
    if d.status == org_mirror_repos.SKIP:
        return "SKIP"
    if d.status == org_mirror_repos.FAILED:
        return "FAIL"
    status = d.sync_status or mirrors.NEVER_RUN
    return _QUAY_STATUS.get(status, status)


def _require_feature(rt: Runtime) -> None:
    if not rt.settings.FEATURE_ORG_MIRROR:
        raise not_found("organization mirroring is turned off on this registry (FEATURE_ORG_MIRROR)")


@router.get(
    "/{orgname}/mirror/repositories",
    operation_id="listOrgMirrorRepositories",
    summary="The repositories the organization mirror discovered upstream, with their sync status",
)
async def list_org_mirror_repositories(
    rt: Rt,
    org: AdminOrg,
    orgname: str,
    page: int = Query(1, ge=1, le=100_000),
    limit: int = Query(100, ge=1, le=500),
    status: str | None = Query(None, max_length=16),
) -> dict[str, Any]:
    _require_feature(rt)
    wanted = status.upper() if status else None
    if wanted is not None and wanted not in (
        org_mirror_repos.CREATED,
        org_mirror_repos.SKIP,
        org_mirror_repos.FAILED,
    ):
        raise invalid_request(f"Invalid status filter {status!r}: one of CREATED, SKIP, FAILED")
    found, total = await org_mirroring.repositories(rt, org, status=wanted, page=page, limit=limit)
    return {
        "repositories": [
            {
                "name": d.name,
                "sync_status": _quay_status(d),
                "discovery_status": d.status,
                "status_message": d.status_message,
                "quay_repository": f"{org.name}/{d.name}" if d.repository_id is not None else None,
                "discovery_date": mirrors.format_date(d.discovered_ms),
                "last_sync_date": mirrors.format_date(d.last_sync_ms),
            }
            for d in found
        ],
        "page": page,
        "limit": limit,
        "total": total,
        "has_next": page * limit < total,
    }


@router.post(
    "/{orgname}/mirror/sync-now",
    operation_id="syncOrgMirrorNow",
    summary="Discover and sync the organization mirror now",
    status_code=204,
)
async def sync_org_mirror_now(rt: Rt, org: AdminOrg, who: User, orgname: str) -> Response:
    _require_feature(rt)
    if not await org_mirroring.sync_now(rt, org, actor(who)):
        raise invalid_request("a sync of this organization mirror is running already")
    return Response(status_code=204)


@router.post(
    "/{orgname}/mirror/sync-cancel",
    operation_id="cancelOrgMirrorSync",
    summary="Cancel the organization mirror's sync and its repositories' syncs",
    status_code=204,
)
async def cancel_org_mirror_sync(rt: Rt, org: AdminOrg, who: User, orgname: str) -> Response:
    _require_feature(rt)
    if not await org_mirroring.cancel(rt, org, actor(who)):
        raise invalid_request("Cannot cancel: mirror is already cancelled")
    return Response(status_code=204)


@router.post(
    "/{orgname}/mirror/verify",
    operation_id="verifyOrgMirrorConnection",
    summary="Check that the upstream namespace can be listed with the stored settings",
)
async def verify_org_mirror_connection(rt: Rt, org: AdminOrg, orgname: str) -> dict[str, Any]:
    _require_feature(rt)
    success, message = await org_mirroring.verify_connection(rt, org)
    return {"success": success, "message": message}


@router.get(
    "/{orgname}/mirror",
    operation_id="getOrgMirrorConfig",
    summary="The organization's mirror configuration and sync status",
)
async def get_org_mirror_config(rt: Rt, org: AdminOrg, orgname: str) -> dict[str, Any]:
    _require_feature(rt)
    return await org_mirroring.describe(rt, await org_mirroring.get(rt, org))


@router.post(
    "/{orgname}/mirror",
    operation_id="createOrgMirrorConfig",
    summary="Mirror every repository of a namespace in another registry into the organization",
    status_code=201,
)
async def create_org_mirror_config(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: OrgMirrorConfigBody
) -> dict[str, Any]:
    _require_feature(rt)
    record = await org_mirroring.create(rt, org, body.as_settings(), actor(who))
    return await org_mirroring.describe(rt, record)


@router.put(
    "/{orgname}/mirror",
    operation_id="updateOrgMirrorConfig",
    summary="Change the organization's mirror configuration",
)
async def update_org_mirror_config(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: OrgMirrorConfigBody
) -> dict[str, Any]:
    _require_feature(rt)
    record = await org_mirroring.change(rt, org, body.as_settings(), actor(who))
    return await org_mirroring.describe(rt, record)


@router.delete(
    "/{orgname}/mirror",
    operation_id="deleteOrgMirrorConfig",
    summary="Stop mirroring into the organization (its repositories stay, as normal ones)",
    status_code=204,
)
async def delete_org_mirror_config(rt: Rt, org: AdminOrg, who: User, orgname: str) -> Response:
    _require_feature(rt)
    await org_mirroring.delete(rt, org, actor(who))
    return Response(status_code=204)

"""/api/v1/repository/{R}/mirror: repository mirroring with Quay's paths, operation ids and fields
(createRepoMirrorConfig, getRepoMirrorConfig, changeRepoMirrorConfig, syncNow, syncCancel), with
FEATURE_REPO_MIRROR. Every operation needs the repository's admin role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api.access import AdminRepository
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import invalid_request, not_found
from wharf.core import mirrors
from wharf.runtime import Runtime
from wharf.services import mirroring

router = APIRouter(prefix="/repository", tags=["mirror"])


class RootRule(BaseModel):
    rule_kind: str = Field(max_length=32)
    rule_value: list[str] | str


class MirrorConfigBody(BaseModel):
    external_reference: str | None = Field(default=None, max_length=1024)
    external_registry_username: str | None = Field(default=None, max_length=1024)
    external_registry_password: str | None = Field(default=None, max_length=4096)
    external_registry_config: dict[str, Any] | None = None
    sync_interval: int | None = None
    sync_start_date: str | None = Field(default=None, max_length=32)
    root_rule: RootRule | None = None
    robot_username: str | None = Field(default=None, max_length=255)
    skopeo_timeout_interval: int | None = None
    is_enabled: bool | None = None
    architecture_filter: list[str] | None = None

    def as_settings(self) -> mirrors.Settings:
        return mirrors.Settings(
            external_reference=self.external_reference,
            username=self.external_registry_username,
            password=self.external_registry_password,
            robot_username=self.robot_username,
            is_enabled=self.is_enabled,
            sync_interval=self.sync_interval,
            sync_start_ms=mirrors.parse_date(self.sync_start_date) if self.sync_start_date else None,
            root_rule=self.root_rule.model_dump() if self.root_rule is not None else None,
            external_registry_config=self.external_registry_config,
            skopeo_timeout_interval=self.skopeo_timeout_interval,
            architecture_filter=self.architecture_filter,
        )


def _require_feature(rt: Runtime) -> None:
    if not rt.settings.FEATURE_REPO_MIRROR:
        raise not_found("repository mirroring is turned off on this registry (FEATURE_REPO_MIRROR)")


def _missing(body: MirrorConfigBody) -> list[str]:
    required = {"external_reference": body.external_reference, "root_rule": body.root_rule}
    return [name for name, value in required.items() if value is None]


@router.post(
    "/{repository:path}/mirror/sync-now",
    operation_id="syncNow",
    summary="Sync the mirror now",
    status_code=204,
)
async def sync_now(rt: Rt, target: AdminRepository, who: User, repository: str) -> Response:
    _require_feature(rt)
    if not await mirroring.sync_now(rt, target.repo, actor(who)):
        raise not_found("a sync of this mirror is running already")
    return Response(status_code=204)


@router.post(
    "/{repository:path}/mirror/sync-cancel",
    operation_id="syncCancel",
    summary="Cancel the mirror's running or requested sync",
    status_code=204,
)
async def sync_cancel(rt: Rt, target: AdminRepository, who: User, repository: str) -> Response:
    _require_feature(rt)
    if not await mirroring.sync_cancel(rt, target.repo, actor(who)):
        raise not_found("no sync of this mirror is running or requested")
    return Response(status_code=204)


@router.get(
    "/{repository:path}/mirror",
    operation_id="getRepoMirrorConfig",
    summary="The repository's mirror configuration and sync status",
)
async def get_repo_mirror_config(rt: Rt, target: AdminRepository, repository: str) -> dict[str, Any]:
    _require_feature(rt)
    return mirroring.describe(rt, await mirroring.get(rt, target.repo))


@router.post(
    "/{repository:path}/mirror",
    operation_id="createRepoMirrorConfig",
    summary="Make the repository a mirror of a repository in another registry",
    status_code=201,
)
async def create_repo_mirror_config(
    rt: Rt, target: AdminRepository, who: User, repository: str, body: MirrorConfigBody
) -> Response:
    _require_feature(rt)
    missing = _missing(body)
    if missing:
        raise invalid_request(f"missing: {', '.join(missing)}")
    await mirroring.create(rt, target.repo, body.as_settings(), actor(who))
    return Response(status_code=201)


@router.put(
    "/{repository:path}/mirror",
    operation_id="changeRepoMirrorConfig",
    summary="Change the repository's mirror configuration",
    status_code=201,
)
async def change_repo_mirror_config(
    rt: Rt, target: AdminRepository, who: User, repository: str, body: MirrorConfigBody
) -> Response:
    _require_feature(rt)
    await mirroring.change(rt, target.repo, body.as_settings(), actor(who))
    return Response(status_code=201)

"""/api/v1/repository/{R}/mirror: repository mirroring with Quay's paths, operation ids and fields
(createRepoMirrorConfig, getRepoMirrorConfig, changeRepoMirrorConfig, syncNow, syncCancel), with
FEATURE_REPO_MIRROR. Every operation needs the repository's admin role; a global read-only
superuser reads a configuration too, as on Quay.

And mirroring's health: getRepositoryMirrorHealth (a namespace's, for its members; every
namespace's, for superusers) and getSuperUserRepositoryMirrorHealth (the superuser panel's
summary, naming no repository). Both answer 503 while unhealthy, as Quay's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wharf.api.access import AdminRepository, SuperuserReader, readable_repository
from wharf.api.deps import FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, mirror_health, mirrors
from wharf.runtime import Runtime
from wharf.services import mirroring

router = APIRouter(tags=["mirror"])
NO_STORE = {"Cache-Control": "no-cache, no-store, must-revalidate"}


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


@router.get(
    "/repository/mirror/health",
    operation_id="getRepositoryMirrorHealth",
    summary="The health of repository mirroring, in a namespace or everywhere",
    dependencies=[FreshLogin],
)
async def get_repository_mirror_health(
    rt: Rt,
    who: User,
    namespace: Annotated[str | None, Query(max_length=255)] = None,
    detailed: bool = False,
    limit: Annotated[int, Query(ge=1, le=mirror_health.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    _require_feature(rt)
    namespace_id = await _health_namespace(rt, who, namespace)
    query = mirror_health.Query(namespace_id, detailed, limit, offset)
    return _health_response(await mirroring.health(rt, query))


async def _health_namespace(rt: Runtime, who: Identity, namespace: str | None) -> int | None:
    """The namespace whose mirrors the caller may see (None: all of them, superusers only)."""
    everything = permissions.reads_everything(who)
    if namespace is None:
        if not everything:
            raise forbidden("the health of every namespace's mirrors is for superusers: name a namespace")
        return None
    account = await rt.db.read(accounts.get_by_name, namespace)
    if account is None or account.kind == "robot":
        raise not_found(f"no namespace {namespace!r}")
    if everything or account.id == who.account_id:
        return account.id
    if account.kind == "org" and await rt.db.read(permissions.is_org_member, who, account):
        return account.id
    raise forbidden(f"you are not a member of {namespace}")


def _health_response(document: dict[str, Any]) -> JSONResponse:
    return JSONResponse(document, status_code=200 if document["healthy"] else 503, headers=NO_STORE)


@router.get(
    "/superuser/mirror/health",
    operation_id="getSuperUserRepositoryMirrorHealth",
    summary="The health of repository mirroring on the whole registry (no repository named)",
    dependencies=[FreshLogin],
)
async def get_superuser_repository_mirror_health(rt: Rt, who: SuperuserReader) -> JSONResponse:
    _require_feature(rt)
    query = mirror_health.Query(name_repositories=False)
    return _health_response(await mirroring.health(rt, query))


@router.post(
    "/repository/{repository:path}/mirror/sync-now",
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
    "/repository/{repository:path}/mirror/sync-cancel",
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
    "/repository/{repository:path}/mirror",
    operation_id="getRepoMirrorConfig",
    summary="The repository's mirror configuration and sync status",
)
async def get_repo_mirror_config(rt: Rt, who: User, repository: str) -> dict[str, Any]:
    _require_feature(rt)
    target = await readable_repository(rt, who, repository)
    if target.role != permissions.ADMIN and not permissions.reads_everything(who):
        raise forbidden(f"you need the admin role on {repository}; you have {target.role}")
    return mirroring.describe(rt, await mirroring.get(rt, target.repo))


@router.post(
    "/repository/{repository:path}/mirror",
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
    "/repository/{repository:path}/mirror",
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

"""/api/v1/organization/{orgname}/proxycache: making an organization a proxy cache of an upstream
registry (Quay's getProxyCacheConfig, createProxyCacheConfig, deleteProxyCacheConfig,
validateProxyCacheConfig), with FEATURE_PROXY_CACHE."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api.access import AdminOrg, organization
from wharf.api.deps import Caller, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found, unauthorized
from wharf.core.errors import DomainError, UpstreamFailed
from wharf.runtime import Runtime
from wharf.services import accounts as account_service
from wharf.services import proxy_cache

router = APIRouter(prefix="/organization", tags=["organization"])


class NewProxyCacheConfig(BaseModel):
    upstream_registry: str = Field(max_length=512)
    upstream_registry_username: str | None = Field(default=None, max_length=1024)
    upstream_registry_password: str | None = Field(default=None, max_length=4096)
    expiration_s: int | None = None
    insecure: bool | None = False

    def as_new(self) -> proxy_cache.NewConfig:
        return proxy_cache.NewConfig(
            self.upstream_registry,
            self.upstream_registry_username,
            self.upstream_registry_password,
            self.expiration_s if self.expiration_s is not None else 86400,
            bool(self.insecure),
        )


def _require_feature(rt: Runtime) -> None:
    if not rt.settings.FEATURE_PROXY_CACHE:
        raise not_found("proxy caches are turned off on this registry (FEATURE_PROXY_CACHE)")


@router.get(
    "/{orgname}/proxycache",
    operation_id="getProxyCacheConfig",
    summary="The organization's proxy cache configuration",
)
async def get_proxy_cache_config(rt: Rt, who: Caller, orgname: str) -> dict[str, Any]:
    _require_feature(rt)
    if who.is_anonymous:
        raise unauthorized()
    org = await organization(rt, orgname)
    found = await account_service.org_overview(rt, who, org)
    if not found.is_member:
        raise forbidden(f"you are not a member of organization {orgname}")
    return proxy_cache.describe(await proxy_cache.get(rt, org))


@router.post(
    "/{orgname}/proxycache",
    operation_id="createProxyCacheConfig",
    summary="Make the organization a proxy cache of an upstream registry",
    status_code=201,
)
async def create_proxy_cache_config(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: NewProxyCacheConfig
) -> Response:
    _require_feature(rt)
    await proxy_cache.create(rt, org, body.as_new(), actor(who))
    return Response(content=b'"Created"', status_code=201, media_type="application/json")


@router.delete(
    "/{orgname}/proxycache",
    operation_id="deleteProxyCacheConfig",
    summary="Stop the organization being a proxy cache",
    status_code=201,
)
async def delete_proxy_cache_config(rt: Rt, org: AdminOrg, who: User, orgname: str) -> Response:
    _require_feature(rt)
    try:
        await proxy_cache.delete(rt, org, actor(who))
    except DomainError:
        raise not_found(f"{orgname} is not a proxy cache") from None
    # Quay answers a deletion with 201 "Deleted"; kept for its clients.
    return Response(content=b'"Deleted"', status_code=201, media_type="application/json")


@router.post(
    "/{orgname}/validateproxycache",
    operation_id="validateProxyCacheConfig",
    summary="Check that the upstream registry answers, with the credentials given",
    status_code=202,
)
async def validate_proxy_cache_config(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: NewProxyCacheConfig
) -> Response:
    _require_feature(rt)
    try:
        outcome = await proxy_cache.validate(rt, body.as_new())
    except UpstreamFailed as e:
        raise invalid_request(
            f"Failed login to remote registry. Please verify entered details and try again. ({e})"
        ) from None
    return Response(content=f'"{outcome}"'.encode(), status_code=202, media_type="application/json")

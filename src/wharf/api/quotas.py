"""/api/v1 storage quotas, as Quay's namespacequota.py and superuser.py serve them.

Superusers set quotas and limits (the organization paths, and the superuser paths for users and
organizations); organization members read their organization's, users their own. Everything is
off (404) without FEATURE_QUOTA_MANAGEMENT; changes also need FEATURE_EDIT_QUOTA.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from wharf.api.access import own_user
from wharf.api.deps import FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, quotas
from wharf.core.accounts import AccountRecord
from wharf.core.quotas import LimitRecord, QuotaRecord
from wharf.runtime import Runtime
from wharf.services import quotas as quota_service


async def _enabled(rt: Rt) -> None:
    if not rt.settings.FEATURE_QUOTA_MANAGEMENT:
        raise not_found("quota management is off on this registry (FEATURE_QUOTA_MANAGEMENT)")


router = APIRouter(tags=["quota"], dependencies=[Depends(_enabled)])


class NewQuota(BaseModel):
    limit_bytes: int | None = None
    limit: str | None = Field(default=None, max_length=64)


class NewLimit(BaseModel):
    type: str = Field(max_length=16)
    threshold_percent: int


class UpdateLimit(BaseModel):
    type: str | None = Field(default=None, max_length=16)
    threshold_percent: int | None = None


def _limit_bytes(body: NewQuota) -> int:
    """`limit_bytes`, or `limit` as people write it ("10 GiB", "500 MB")."""
    if body.limit_bytes is not None:
        return body.limit_bytes
    if body.limit is None:
        raise invalid_request("limit_bytes (a number of bytes) or limit (such as '10 GiB') is required")
    return quotas.parse_size(body.limit)


def _limit_text(n: int) -> str:
    # Quay prints the limit as bitmath's best prefix with one decimal: "10.0 GiB".
    value = float(n)
    unit = "B"
    for next_unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{value:.1f} {unit}"


def limit_view(limit: LimitRecord) -> dict[str, Any]:
    return {"id": limit.id, "type": limit.type, "limit_percent": limit.percent}


def quota_view(quota: QuotaRecord, *, default_config: bool = False) -> dict[str, Any]:
    return {
        "id": quota.id,
        "limit_bytes": quota.limit_bytes,
        "limit": _limit_text(quota.limit_bytes),
        "default_config": default_config,
        "limits": [limit_view(lim) for lim in quota.limits],
        "default_config_exists": default_config,
    }


async def quota_list(rt: Runtime, namespace: AccountRecord) -> list[dict[str, Any]]:
    found = await quota_service.quota_of(rt, namespace.id)
    if found is not None:
        return [quota_view(found)]
    default = rt.settings.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES
    if default:
        # Quay lists the system default as an unsaved quota with one Reject limit at 100 %.
        system = QuotaRecord(0, namespace.id, default, (LimitRecord(0, quotas.REJECT, 100),))
        return [{**quota_view(system, default_config=True), "id": None}]
    return []


async def _any_namespace(rt: Runtime, name: str) -> AccountRecord:
    """The namespace the /organization/{orgname}/quota paths name: as on Quay, a user's too (a
    superuser sets a user's limits there; Quay has no other path for them)."""
    found = await rt.db.read(accounts.get_by_name, name)
    if found is None or found.kind not in ("user", "org"):
        raise not_found(f"no organization named {name!r}")
    return found


async def _readable_org(rt: Runtime, who: Identity, orgname: str) -> AccountRecord:
    """The namespace, when the caller is a member of it (or is it) or reads the superuser panel."""
    namespace = await _any_namespace(rt, orgname)
    if permissions.may_read_superuser_panel(who) or (who.account_id == namespace.id and who.account_id):
        return namespace
    if namespace.kind != "org" or who.is_anonymous:
        raise forbidden(f"you are not a member of organization {orgname}")
    if not await rt.db.read(permissions.is_org_member, who, namespace):
        raise forbidden(f"you are not a member of organization {orgname}")
    return namespace


def _may_edit(rt: Runtime, who: Identity) -> None:
    if not rt.settings.FEATURE_EDIT_QUOTA:
        raise forbidden("quotas cannot be edited on this registry (FEATURE_EDIT_QUOTA)")
    if not permissions.is_superuser(who):
        raise forbidden("only superusers set quotas")


# --- /organization/{orgname}/quota ------------------------------------------------------------


@router.get(
    "/organization/{orgname}/quota", operation_id="listOrganizationQuota", summary="An organization's quota"
)
async def list_organization_quota(rt: Rt, who: User, orgname: str) -> list[dict[str, Any]]:
    return await quota_list(rt, await _readable_org(rt, who, orgname))


@router.post(
    "/organization/{orgname}/quota",
    operation_id="createOrganizationQuota",
    summary="Set an organization's quota (superusers)",
    status_code=201,
)
async def create_organization_quota(rt: Rt, who: User, orgname: str, body: NewQuota) -> str:
    _may_edit(rt, who)
    org = await _any_namespace(rt, orgname)
    await quota_service.create(rt, org.id, org.name, _limit_bytes(body), actor(who))
    return "Created"


@router.get(
    "/organization/{orgname}/quota/{quota_id}",
    operation_id="getOrganizationQuota",
    summary="An organization's quota",
)
async def get_organization_quota(rt: Rt, who: User, orgname: str, quota_id: int) -> dict[str, Any]:
    org = await _readable_org(rt, who, orgname)
    return quota_view(await quota_service.get(rt, org.id, quota_id))


@router.put(
    "/organization/{orgname}/quota/{quota_id}",
    operation_id="changeOrganizationQuota",
    summary="Change an organization's quota (superusers)",
)
async def change_organization_quota(
    rt: Rt, who: User, orgname: str, quota_id: int, body: NewQuota
) -> dict[str, Any]:
    _may_edit(rt, who)
    org = await _any_namespace(rt, orgname)
    return quota_view(
        await quota_service.change(rt, org.id, org.name, quota_id, _limit_bytes(body), actor(who))
    )


@router.delete(
    "/organization/{orgname}/quota/{quota_id}",
    operation_id="deleteOrganizationQuota",
    summary="Remove an organization's quota (superusers)",
    status_code=204,
)
async def delete_organization_quota(rt: Rt, who: User, orgname: str, quota_id: int) -> Response:
    _may_edit(rt, who)
    org = await _any_namespace(rt, orgname)
    await quota_service.delete(rt, org.id, org.name, quota_id, actor(who))
    return Response(status_code=204)


@router.get(
    "/organization/{orgname}/quota/{quota_id}/limit",
    operation_id="listOrganizationQuotaLimit",
    summary="The limits of an organization's quota",
)
async def list_organization_quota_limit(
    rt: Rt, who: User, orgname: str, quota_id: int
) -> list[dict[str, Any]]:
    org = await _readable_org(rt, who, orgname)
    return [limit_view(lim) for lim in (await quota_service.get(rt, org.id, quota_id)).limits]


@router.post(
    "/organization/{orgname}/quota/{quota_id}/limit",
    operation_id="createOrganizationQuotaLimit",
    summary="Add a Warning or Reject limit (superusers)",
    status_code=201,
)
async def create_organization_quota_limit(
    rt: Rt, who: User, orgname: str, quota_id: int, body: NewLimit
) -> str:
    _may_edit(rt, who)
    org = await _any_namespace(rt, orgname)
    await quota_service.create_limit(
        rt, org.id, org.name, quota_id, body.type, body.threshold_percent, actor(who)
    )
    return "Created"


@router.get(
    "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id="getOrganizationQuotaLimit",
    summary="A limit of an organization's quota",
)
async def get_organization_quota_limit(
    rt: Rt, who: User, orgname: str, quota_id: int, limit_id: int
) -> dict[str, Any]:
    org = await _readable_org(rt, who, orgname)
    return limit_view(quotas.get_limit(await quota_service.get(rt, org.id, quota_id), limit_id))


@router.put(
    "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id="changeOrganizationQuotaLimit",
    summary="Change a limit (superusers)",
)
async def change_organization_quota_limit(
    rt: Rt, who: User, orgname: str, quota_id: int, limit_id: int, body: UpdateLimit
) -> dict[str, Any]:
    _may_edit(rt, who)
    org = await _any_namespace(rt, orgname)
    quota = await quota_service.change_limit(
        rt, org.id, org.name, quota_id, limit_id, body.type, body.threshold_percent, actor(who)
    )
    return quota_view(quota)


@router.delete(
    "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id="deleteOrganizationQuotaLimit",
    summary="Remove a limit (superusers)",
    status_code=204,
)
async def delete_organization_quota_limit(
    rt: Rt, who: User, orgname: str, quota_id: int, limit_id: int
) -> Response:
    _may_edit(rt, who)
    org = await _any_namespace(rt, orgname)
    await quota_service.delete_limit(rt, org.id, org.name, quota_id, limit_id, actor(who))
    return Response(status_code=204)


# --- /user/quota: the caller's own namespace ------------------------------------------------------


async def _me(rt: Runtime, who: Identity) -> AccountRecord:
    return await own_user(rt, who, "only users have a quota of their own")


@router.get("/user/quota", operation_id="listUserQuota", summary="Your namespace's quota")
async def list_user_quota(rt: Rt, who: User) -> list[dict[str, Any]]:
    return await quota_list(rt, await _me(rt, who))


@router.get("/user/quota/{quota_id}", operation_id="getUserQuota", summary="Your namespace's quota")
async def get_user_quota(rt: Rt, who: User, quota_id: int) -> dict[str, Any]:
    me = await _me(rt, who)
    return quota_view(await quota_service.get(rt, me.id, quota_id))


@router.get("/user/quota/{quota_id}/limit", operation_id="listUserQuotaLimit", summary="Your quota's limits")
async def list_user_quota_limit(rt: Rt, who: User, quota_id: int) -> list[dict[str, Any]]:
    me = await _me(rt, who)
    return [limit_view(lim) for lim in (await quota_service.get(rt, me.id, quota_id)).limits]


@router.get(
    "/user/quota/{quota_id}/limit/{limit_id}",
    operation_id="getUserQuotaLimit",
    summary="A limit of your quota",
)
async def get_user_quota_limit(rt: Rt, who: User, quota_id: int, limit_id: int) -> dict[str, Any]:
    me = await _me(rt, who)
    return limit_view(quotas.get_limit(await quota_service.get(rt, me.id, quota_id), limit_id))


# --- /superuser/{users,organization}/{namespace}/quota -------------------------------------------


async def _namespace(rt: Runtime, kind: str, namespace: str) -> AccountRecord:
    found = await rt.db.read(accounts.get_by_name, namespace)
    if found is None or found.kind != kind:
        raise not_found(f"no {'user' if kind == 'user' else 'organization'} named {namespace!r}")
    return found


def _superuser_routes(segment: str, kind: str, word: str) -> None:
    """The same four handlers under /superuser/users/... and /superuser/organization/..., each
    with its own Quay operation id."""

    @router.get(
        f"/superuser/{segment}/{{namespace}}/quota",
        operation_id=f"list{word}QuotaSuperUser",
        dependencies=[FreshLogin],
        summary=f"A {kind}'s quota (superusers)",
    )
    async def list_quota(rt: Rt, who: User, namespace: str) -> list[dict[str, Any]]:
        if not permissions.may_read_superuser_panel(who):
            raise forbidden("superuser rights (and the super:user scope) are required")
        return await quota_list(rt, await _namespace(rt, kind, namespace))

    @router.post(
        f"/superuser/{segment}/{{namespace}}/quota",
        operation_id=f"create{word}QuotaSuperUser",
        dependencies=[FreshLogin],
        summary=f"Set a {kind}'s quota (superusers)",
        status_code=201,
    )
    async def create_quota(rt: Rt, who: User, namespace: str, body: NewQuota) -> str:
        _may_edit(rt, who)
        found = await _namespace(rt, kind, namespace)
        await quota_service.create(rt, found.id, found.name, _limit_bytes(body), actor(who))
        return "Created"

    @router.put(
        f"/superuser/{segment}/{{namespace}}/quota/{{quota_id}}",
        operation_id=f"change{word}QuotaSuperUser",
        dependencies=[FreshLogin],
        summary=f"Change a {kind}'s quota (superusers)",
    )
    async def change_quota(
        rt: Rt, who: User, namespace: str, quota_id: int, body: NewQuota
    ) -> dict[str, Any]:
        _may_edit(rt, who)
        found = await _namespace(rt, kind, namespace)
        changed = await quota_service.change(
            rt, found.id, found.name, quota_id, _limit_bytes(body), actor(who)
        )
        return quota_view(changed)

    @router.delete(
        f"/superuser/{segment}/{{namespace}}/quota/{{quota_id}}",
        operation_id=f"delete{word}QuotaSuperUser",
        summary=f"Remove a {kind}'s quota (superusers)",
        status_code=204,
    )
    async def delete_quota(rt: Rt, who: User, namespace: str, quota_id: int) -> Response:
        _may_edit(rt, who)
        found = await _namespace(rt, kind, namespace)
        await quota_service.delete(rt, found.id, found.name, quota_id, actor(who))
        return Response(status_code=204)


_superuser_routes("users", "user", "User")
_superuser_routes("organization", "org", "Organization")

"""/api/v1 auto-prune and immutability policies, with Quay's paths, operation ids and fields:
`.../autoprunepolicy/` of organizations, the signed-in user and repositories (FEATURE_AUTO_PRUNE),
`.../immutabilitypolicy/` of organizations and repositories (FEATURE_IMMUTABLE_TAGS). A policy
that is not valid (an unknown method, a bad value, a tag pattern RE2 refuses) is a 400 saying why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wharf.api.access import AdminOrg, AdminRepository, own_user
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import not_found
from wharf.auth.identity import Identity
from wharf.core import retention_policies as policies
from wharf.core.retention_policies import Scope
from wharf.runtime import Runtime

router = APIRouter(tags=["policy"])


class AutoPrunePolicyConfig(BaseModel):
    method: str = Field(max_length=64, description="number_of_tags or creation_date")
    value: int | str = Field(description="A number of tags (10) or an age (7d: s, m, h, d or w)")
    tagPattern: str | None = Field(default=None, max_length=1024, description="An RE2 regular expression")
    tagPatternMatches: bool = Field(default=True, description="False: the policy applies to the other tags")


class ImmutabilityPolicyConfig(BaseModel):
    tagPattern: str = Field(max_length=1024, description="An RE2 regular expression")
    tagPatternMatches: bool = Field(default=True, description="False: the other tags become immutable")


def _prune_on(rt: Runtime) -> None:
    if not rt.settings.FEATURE_AUTO_PRUNE:
        raise not_found("auto-prune is turned off on this registry (FEATURE_AUTO_PRUNE)")


def _freeze_on(rt: Runtime) -> None:
    if not rt.settings.FEATURE_IMMUTABLE_TAGS:
        raise not_found("immutable tags are turned off on this registry (FEATURE_IMMUTABLE_TAGS)")


# --- the same five operations in each scope --------------------------------------------------------


async def _list_prune(rt: Runtime, scope: Scope) -> dict[str, Any]:
    _prune_on(rt)
    return {"policies": [p.view() for p in await rt.db.read(policies.prune_policies, scope)]}


async def _create_prune(rt: Runtime, scope: Scope, body: AutoPrunePolicyConfig, who: Identity) -> Response:
    _prune_on(rt)
    rule = policies.check_prune(body.method, body.value, body.tagPattern, body.tagPatternMatches)
    created = await rt.db.write(policies.create_prune, scope, rule, actor(who))
    return JSONResponse({"uuid": created}, status_code=201)


async def _get_prune(rt: Runtime, scope: Scope, policy_uuid: str) -> dict[str, Any]:
    _prune_on(rt)
    found: policies.PruneRule = await rt.db.read(policies.prune_policy, scope, policy_uuid)
    return found.view()


async def _update_prune(
    rt: Runtime, scope: Scope, policy_uuid: str, body: AutoPrunePolicyConfig, who: Identity
) -> Response:
    _prune_on(rt)
    rule = policies.check_prune(body.method, body.value, body.tagPattern, body.tagPatternMatches)
    await rt.db.write(policies.update_prune, scope, policy_uuid, rule, actor(who))
    return Response(status_code=204)


async def _delete_prune(rt: Runtime, scope: Scope, policy_uuid: str, who: Identity) -> dict[str, Any]:
    _prune_on(rt)
    await rt.db.write(policies.delete_prune, scope, policy_uuid, actor(who))
    return {"uuid": policy_uuid}


async def _list_freeze(rt: Runtime, scope: Scope) -> dict[str, Any]:
    _freeze_on(rt)
    return {"policies": [p.view() for p in await rt.db.read(policies.freeze_policies, scope)]}


async def _create_freeze(
    rt: Runtime, scope: Scope, body: ImmutabilityPolicyConfig, who: Identity
) -> Response:
    _freeze_on(rt)
    rule = policies.check_freeze(body.tagPattern, body.tagPatternMatches)
    created = await rt.db.write(policies.create_freeze, scope, rule, actor(who))
    return JSONResponse({"uuid": created}, status_code=201)


async def _get_freeze(rt: Runtime, scope: Scope, policy_uuid: str) -> dict[str, Any]:
    _freeze_on(rt)
    found: policies.FreezeRule = await rt.db.read(policies.freeze_policy, scope, policy_uuid)
    return found.view()


async def _update_freeze(
    rt: Runtime, scope: Scope, policy_uuid: str, body: ImmutabilityPolicyConfig, who: Identity
) -> Response:
    _freeze_on(rt)
    rule = policies.check_freeze(body.tagPattern, body.tagPatternMatches)
    await rt.db.write(policies.update_freeze, scope, policy_uuid, rule, actor(who))
    return Response(status_code=204)


async def _delete_freeze(rt: Runtime, scope: Scope, policy_uuid: str, who: Identity) -> dict[str, Any]:
    _freeze_on(rt)
    await rt.db.write(policies.delete_freeze, scope, policy_uuid, actor(who))
    return {"uuid": policy_uuid}


async def _user_scope(rt: Runtime, who: Identity) -> Scope:
    account = await own_user(rt, who, "only users have auto-prune policies of their own")
    return Scope(account.id, account.name)


# --- organizations -----------------------------------------------------------------------------

_ORG = "/organization/{orgname}/autoprunepolicy/"


@router.get(
    _ORG,
    operation_id="listOrganizationAutoPrunePolicies",
    summary="List an organization's auto-prune policies",
)
async def list_org_prune(rt: Rt, org: AdminOrg, orgname: str) -> dict[str, Any]:
    return await _list_prune(rt, Scope(org.id, org.name))


@router.post(
    _ORG,
    operation_id="createOrganizationAutoPrunePolicy",
    summary="Add an auto-prune policy",
    status_code=201,
)
async def create_org_prune(
    rt: Rt, who: User, org: AdminOrg, orgname: str, body: AutoPrunePolicyConfig
) -> Response:
    return await _create_prune(rt, Scope(org.id, org.name), body, who)


@router.get(
    _ORG + "{policy_uuid}", operation_id="getOrganizationAutoPrunePolicy", summary="Get an auto-prune policy"
)
async def get_org_prune(rt: Rt, org: AdminOrg, orgname: str, policy_uuid: str) -> dict[str, Any]:
    return await _get_prune(rt, Scope(org.id, org.name), policy_uuid)


@router.put(
    _ORG + "{policy_uuid}",
    operation_id="updateOrganizationAutoPrunePolicy",
    summary="Change an auto-prune policy",
    status_code=204,
)
async def update_org_prune(
    rt: Rt, who: User, org: AdminOrg, orgname: str, policy_uuid: str, body: AutoPrunePolicyConfig
) -> Response:
    return await _update_prune(rt, Scope(org.id, org.name), policy_uuid, body, who)


@router.delete(
    _ORG + "{policy_uuid}",
    operation_id="deleteOrganizationAutoPrunePolicy",
    summary="Delete an auto-prune policy",
)
async def delete_org_prune(
    rt: Rt, who: User, org: AdminOrg, orgname: str, policy_uuid: str
) -> dict[str, Any]:
    return await _delete_prune(rt, Scope(org.id, org.name), policy_uuid, who)


_ORG_IMMUTABLE = "/organization/{orgname}/immutabilitypolicy/"


@router.get(
    _ORG_IMMUTABLE,
    operation_id="listOrgImmutabilityPolicies",
    summary="List an organization's immutability policies",
)
async def list_org_freeze(rt: Rt, org: AdminOrg, orgname: str) -> dict[str, Any]:
    return await _list_freeze(rt, Scope(org.id, org.name))


@router.post(
    _ORG_IMMUTABLE,
    operation_id="createOrgImmutabilityPolicy",
    summary="Add an immutability policy",
    status_code=201,
)
async def create_org_freeze(
    rt: Rt, who: User, org: AdminOrg, orgname: str, body: ImmutabilityPolicyConfig
) -> Response:
    return await _create_freeze(rt, Scope(org.id, org.name), body, who)


@router.get(
    _ORG_IMMUTABLE + "{policy_uuid}",
    operation_id="getOrgImmutabilityPolicy",
    summary="Get an immutability policy",
)
async def get_org_freeze(rt: Rt, org: AdminOrg, orgname: str, policy_uuid: str) -> dict[str, Any]:
    return await _get_freeze(rt, Scope(org.id, org.name), policy_uuid)


@router.put(
    _ORG_IMMUTABLE + "{policy_uuid}",
    operation_id="updateOrgImmutabilityPolicy",
    summary="Change an immutability policy",
    status_code=204,
)
async def update_org_freeze(
    rt: Rt, who: User, org: AdminOrg, orgname: str, policy_uuid: str, body: ImmutabilityPolicyConfig
) -> Response:
    return await _update_freeze(rt, Scope(org.id, org.name), policy_uuid, body, who)


@router.delete(
    _ORG_IMMUTABLE + "{policy_uuid}",
    operation_id="deleteOrgImmutabilityPolicy",
    summary="Delete an immutability policy",
)
async def delete_org_freeze(
    rt: Rt, who: User, org: AdminOrg, orgname: str, policy_uuid: str
) -> dict[str, Any]:
    return await _delete_freeze(rt, Scope(org.id, org.name), policy_uuid, who)


# --- the signed-in user ----------------------------------------------------------------------------

_USER = "/user/autoprunepolicy/"


@router.get(_USER, operation_id="listUserAutoPrunePolicies", summary="List your auto-prune policies")
async def list_user_prune(rt: Rt, who: User) -> dict[str, Any]:
    return await _list_prune(rt, await _user_scope(rt, who))


@router.post(
    _USER, operation_id="createUserAutoPrunePolicy", summary="Add an auto-prune policy", status_code=201
)
async def create_user_prune(rt: Rt, who: User, body: AutoPrunePolicyConfig) -> Response:
    return await _create_prune(rt, await _user_scope(rt, who), body, who)


@router.get(
    _USER + "{policy_uuid}", operation_id="getUserAutoPrunePolicy", summary="Get an auto-prune policy"
)
async def get_user_prune(rt: Rt, who: User, policy_uuid: str) -> dict[str, Any]:
    return await _get_prune(rt, await _user_scope(rt, who), policy_uuid)


@router.put(
    _USER + "{policy_uuid}",
    operation_id="updateUserAutoPrunePolicy",
    summary="Change an auto-prune policy",
    status_code=204,
)
async def update_user_prune(rt: Rt, who: User, policy_uuid: str, body: AutoPrunePolicyConfig) -> Response:
    return await _update_prune(rt, await _user_scope(rt, who), policy_uuid, body, who)


@router.delete(
    _USER + "{policy_uuid}", operation_id="deleteUserAutoPrunePolicy", summary="Delete an auto-prune policy"
)
async def delete_user_prune(rt: Rt, who: User, policy_uuid: str) -> dict[str, Any]:
    return await _delete_prune(rt, await _user_scope(rt, who), policy_uuid, who)


# --- repositories ----------------------------------------------------------------------------------

_REPO = "/repository/{repository:path}/autoprunepolicy/"


@router.get(
    _REPO, operation_id="listRepositoryAutoPrunePolicies", summary="List a repository's auto-prune policies"
)
async def list_repo_prune(rt: Rt, access: AdminRepository, repository: str) -> dict[str, Any]:
    return await _list_prune(rt, Scope.of(access.repo))


@router.post(
    _REPO, operation_id="createRepositoryAutoPrunePolicy", summary="Add an auto-prune policy", status_code=201
)
async def create_repo_prune(
    rt: Rt, who: User, access: AdminRepository, repository: str, body: AutoPrunePolicyConfig
) -> Response:
    return await _create_prune(rt, Scope.of(access.repo), body, who)


@router.get(
    _REPO + "{policy_uuid}", operation_id="getRepositoryAutoPrunePolicy", summary="Get an auto-prune policy"
)
async def get_repo_prune(
    rt: Rt, access: AdminRepository, repository: str, policy_uuid: str
) -> dict[str, Any]:
    return await _get_prune(rt, Scope.of(access.repo), policy_uuid)


@router.put(
    _REPO + "{policy_uuid}",
    operation_id="updateRepositoryAutoPrunePolicy",
    summary="Change an auto-prune policy",
    status_code=204,
)
async def update_repo_prune(
    rt: Rt, who: User, access: AdminRepository, repository: str, policy_uuid: str, body: AutoPrunePolicyConfig
) -> Response:
    return await _update_prune(rt, Scope.of(access.repo), policy_uuid, body, who)


@router.delete(
    _REPO + "{policy_uuid}",
    operation_id="deleteRepositoryAutoPrunePolicy",
    summary="Delete an auto-prune policy",
)
async def delete_repo_prune(
    rt: Rt, who: User, access: AdminRepository, repository: str, policy_uuid: str
) -> dict[str, Any]:
    return await _delete_prune(rt, Scope.of(access.repo), policy_uuid, who)


_REPO_IMMUTABLE = "/repository/{repository:path}/immutabilitypolicy/"


@router.get(
    _REPO_IMMUTABLE,
    operation_id="listRepositoryImmutabilityPolicies",
    summary="List a repository's immutability policies",
)
async def list_repo_freeze(rt: Rt, access: AdminRepository, repository: str) -> dict[str, Any]:
    return await _list_freeze(rt, Scope.of(access.repo))


@router.post(
    _REPO_IMMUTABLE,
    operation_id="createRepositoryImmutabilityPolicy",
    summary="Add an immutability policy",
    status_code=201,
)
async def create_repo_freeze(
    rt: Rt, who: User, access: AdminRepository, repository: str, body: ImmutabilityPolicyConfig
) -> Response:
    return await _create_freeze(rt, Scope.of(access.repo), body, who)


@router.get(
    _REPO_IMMUTABLE + "{policy_uuid}",
    operation_id="getRepositoryImmutabilityPolicy",
    summary="Get an immutability policy",
)
async def get_repo_freeze(
    rt: Rt, access: AdminRepository, repository: str, policy_uuid: str
) -> dict[str, Any]:
    return await _get_freeze(rt, Scope.of(access.repo), policy_uuid)


@router.put(
    _REPO_IMMUTABLE + "{policy_uuid}",
    operation_id="updateRepositoryImmutabilityPolicy",
    summary="Change an immutability policy",
    status_code=204,
)
async def update_repo_freeze(
    rt: Rt,
    who: User,
    access: AdminRepository,
    repository: str,
    policy_uuid: str,
    body: ImmutabilityPolicyConfig,
) -> Response:
    return await _update_freeze(rt, Scope.of(access.repo), policy_uuid, body, who)


@router.delete(
    _REPO_IMMUTABLE + "{policy_uuid}",
    operation_id="deleteRepositoryImmutabilityPolicy",
    summary="Delete an immutability policy",
)
async def delete_repo_freeze(
    rt: Rt, who: User, access: AdminRepository, repository: str, policy_uuid: str
) -> dict[str, Any]:
    return await _delete_freeze(rt, Scope.of(access.repo), policy_uuid, who)

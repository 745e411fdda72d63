"""/api/v1/repository/{repository}/permissions/...: who holds which role on a repository."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from wharf.api import views
from wharf.api.access import AdminRepository, org_team
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import not_found
from wharf.core import accounts, grants
from wharf.core.accounts import AccountRecord

router = APIRouter(prefix="/repository", tags=["permission"])


class Role(BaseModel):
    role: Literal["read", "write", "admin"]


def _user_view(account: AccountRecord, role: str, org_member: bool) -> dict[str, Any]:
    return {
        "role": role,
        "name": account.name,
        "is_robot": account.kind == "robot",
        "avatar": views.avatar(account.name, account.email),
        "is_org_member": org_member,
    }


def _team_view(name: str, role: str) -> dict[str, Any]:
    return {"role": role, "name": name, "avatar": views.avatar(name, None, "team")}


async def _account(rt: Rt, username: str) -> AccountRecord:
    account = await rt.db.read(accounts.get_by_name, username)
    if account is None or account.kind == "org":
        raise not_found(f"no user or robot named {username!r}")
    return account


@router.get(
    "/{repository:path}/permissions/user/",
    operation_id="listRepoUserPermissions",
    summary="List the users and robots with a role on a repository",
)
async def list_repo_user_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str
) -> dict[str, Any]:
    repo = target.repo
    found = await rt.db.read(grants.user_roles_and_membership, repo)
    return {"permissions": {a.name: _user_view(a, role, member) for a, role, member in found}}


@router.get(
    "/{repository:path}/permissions/user/{username}",
    operation_id="getUserPermissions",
    summary="Get a user's role on a repository",
)
async def get_user_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str, username: str
) -> dict[str, Any]:
    repo = target.repo
    account = await _account(rt, username)
    for a, role in await rt.db.read(grants.user_roles, repo):
        if a.id == account.id:
            return _user_view(a, role, False)
    raise not_found(f"{username} has no role on {repository}")


@router.put(
    "/{repository:path}/permissions/user/{username}",
    operation_id="changeUserPermissions",
    summary="Give a user or robot a role on a repository",
)
async def change_user_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str, username: str, body: Role
) -> dict[str, Any]:
    repo = target.repo
    account = await _account(rt, username)
    await rt.db.write(grants.set_user_role, repo, account, body.role, actor(who))
    return _user_view(account, body.role, False)


@router.delete(
    "/{repository:path}/permissions/user/{username}",
    operation_id="deleteUserPermissions",
    summary="Remove a user's role on a repository",
    status_code=204,
)
async def delete_user_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str, username: str
) -> Response:
    repo = target.repo
    account = await _account(rt, username)
    await rt.db.write(grants.delete_user_role, repo, account, actor(who))
    return Response(status_code=204)


@router.get(
    "/{repository:path}/permissions/team/",
    operation_id="listRepoTeamPermissions",
    summary="List the teams with a role on a repository",
)
async def list_repo_team_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str
) -> dict[str, Any]:
    repo = target.repo
    return {
        "permissions": {
            name: _team_view(name, role) for name, role in await rt.db.read(grants.team_roles, repo)
        }
    }


@router.put(
    "/{repository:path}/permissions/team/{teamname}",
    operation_id="changeTeamPermissions",
    summary="Give a team a role on a repository",
)
async def change_team_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str, teamname: str, body: Role
) -> dict[str, Any]:
    repo = target.repo
    team = await org_team(rt, target.namespace, teamname)
    await rt.db.write(grants.set_team_role, repo, team, body.role, actor(who))
    return _team_view(team.name, body.role)


@router.delete(
    "/{repository:path}/permissions/team/{teamname}",
    operation_id="deleteTeamPermissions",
    summary="Remove a team's role on a repository",
    status_code=204,
)
async def delete_team_permissions(
    rt: Rt, target: AdminRepository, who: User, repository: str, teamname: str
) -> Response:
    repo = target.repo
    team = await org_team(rt, target.namespace, teamname)
    await rt.db.write(grants.delete_team_role, repo, team, actor(who))
    return Response(status_code=204)


@router.get(
    "/{repository:path}/permissions/user/{username}/transitive",
    operation_id="getUserTransitivePermission",
    summary="A user's roles on a repository, directly and through teams",
)
async def get_user_transitive_permission(
    rt: Rt, target: AdminRepository, who: User, repository: str, username: str
) -> dict[str, Any]:
    repo = target.repo
    account = await _account(rt, username)
    roles = await rt.db.read(grants.repository_roles, repo.id, account.id)
    return {"permissions": [{"role": r} for r in grants.ROLES if r in roles]}

"""/api/v1/organization/...: organizations, their teams and members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api import quotas as quota_api
from wharf.api import views
from wharf.api.access import AdminOrg, org_team, organization, require_user_admin
from wharf.api.deps import Caller, FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, federated_logins, grants, orgs, teams
from wharf.core.accounts import AccountRecord
from wharf.runtime import Runtime
from wharf.services import accounts as account_service
from wharf.services import directory_sync
from wharf.services import quotas as quota_service
from wharf.services import team_invites as invite_service

router = APIRouter(prefix="/organization", tags=["organization"])


class NewOrg(BaseModel):
    name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=255)


class UpdateOrg(BaseModel):
    email: str | None = Field(default=None, max_length=255)
    tag_expiration_s: int | None = Field(default=None, ge=0)


class TeamDescription(BaseModel):
    role: str
    description: str | None = Field(default=None, max_length=4096)


def _team_view(found: account_service.TeamCounts) -> dict[str, Any]:
    team = found.team
    return {
        "name": team.name,
        "description": team.description,
        "role": team.role,
        "avatar": views.avatar(team.name, None, "team"),
        "can_view": True,
        "repo_count": found.repositories,
        "member_count": found.members,
        "is_synced": False,
    }


@router.post("/", operation_id="createOrganization", summary="Create an organization", status_code=201)
async def create_organization(rt: Rt, who: User, body: NewOrg) -> Response:
    require_user_admin(who)
    assert who.account_id is not None
    await account_service.create_org(rt, who, body.name, body.email, actor(who))
    return Response(content=b'"Created"', status_code=201, media_type="application/json")


@router.get("/{orgname}", operation_id="getOrganization", summary="Get an organization")
async def get_organization(rt: Rt, who: Caller, orgname: str) -> dict[str, Any]:
    org = await organization(rt, orgname)

    found = await account_service.org_overview(rt, who, org)
    out: dict[str, Any] = {
        "name": org.name,
        "email": org.email if found.is_admin else None,
        "avatar": views.avatar(org.name, org.email, "org"),
        "is_admin": found.is_admin,
        "is_member": found.is_member,
        "tag_expiration_s": views.tag_expiration_s(rt, org),
    }
    if found.is_admin:
        out["is_free_account"] = views.FREE_ACCOUNT
    if found.teams is not None:
        out["teams"] = {t.team.name: _team_view(t) for t in found.teams}
        out["ordered_teams"] = [t.team.name for t in found.teams]
    quota_on = rt.settings.FEATURE_QUOTA_MANAGEMENT and rt.settings.FEATURE_EDIT_QUOTA
    if quota_on and (found.is_member or permissions.may_read_superuser_panel(who)):
        report = await quota_service.namespace_report(rt, org.id)
        out["quotas"] = await quota_api.quota_list(rt, org)
        out["quota_report"] = {
            "quota_bytes": report.quota_bytes,
            "configured_quota": report.configured_quota,
            # Quay's backfill state: Wharf's sizes are complete from the migration on.
            "running_backfill": "complete",
            "backfill_status": "complete",
        }
    return out


@router.put("/{orgname}", operation_id="changeOrganizationDetails", summary="Change an organization")
async def change_organization_details(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: UpdateOrg
) -> dict[str, Any]:
    await apply_org_update(rt, who, org, body)
    return await get_organization(rt, who, orgname)


async def apply_org_update(rt: Runtime, who: Identity, org: AccountRecord, body: UpdateOrg) -> AccountRecord:
    return await rt.db.write(
        accounts.change_settings,
        org,
        email=body.email,
        tag_expiration_s=body.tag_expiration_s,
        options=rt.settings.TAG_EXPIRATION_OPTIONS,
        actor=actor(who),
    )


@router.delete(
    "/{orgname}",
    operation_id="deleteAdminedOrganization",
    dependencies=[FreshLogin],
    summary="Delete an organization",
    status_code=204,
)
async def delete_admined_organization(rt: Rt, org: AdminOrg, who: User, orgname: str) -> Response:
    await account_service.delete_org(rt, org, actor(who))
    return Response(status_code=204)


@router.get(
    "/{orgname}/members", operation_id="getOrganizationMembers", summary="List an organization's members"
)
async def get_organization_members(rt: Rt, org: AdminOrg, who: User, orgname: str) -> dict[str, Any]:
    found = await rt.db.read(orgs.members, org.id)
    return {"members": [_member_view(account, team_names, []) for account, team_names in found]}


def _member_view(account: AccountRecord, team_names: list[str], repos: list[str]) -> dict[str, Any]:
    return {
        "name": account.name,
        "kind": "robot" if account.kind == "robot" else "user",
        "avatar": views.avatar(account.name, account.email),
        "teams": [{"name": t, "avatar": views.avatar(t, None, "team")} for t in team_names],
        "repositories": repos,
    }


@router.get(
    "/{orgname}/members/{membername}",
    operation_id="getOrganizationMember",
    summary="Get one member of an organization",
)
async def get_organization_member(
    rt: Rt, org: AdminOrg, who: User, orgname: str, membername: str
) -> dict[str, Any]:
    found = await rt.db.read(orgs.members, org.id)
    for account, team_names in found:
        if account.name == membername:
            return _member_view(account, team_names, [])
    raise not_found(f"{membername} is not a member of {orgname}")


@router.delete(
    "/{orgname}/members/{membername}",
    operation_id="removeOrganizationMember",
    summary="Remove a member from every team of the organization and revoke its repository roles there",
    status_code=204,
)
async def remove_organization_member(
    rt: Rt, org: AdminOrg, who: User, orgname: str, membername: str
) -> Response:
    member = await rt.db.read(accounts.get_by_name, membername)
    if member is None or member.kind == "org":
        raise not_found(f"no user or robot named {membername!r}")
    await rt.db.write(orgs.remove_member, org, member, actor(who))
    return Response(status_code=204)


@router.get(
    "/{orgname}/collaborators",
    operation_id="getOrganizationCollaborators",
    summary="Users with roles on the organization's repositories who are in none of its teams",
)
async def get_organization_collaborators(rt: Rt, org: AdminOrg, who: User, orgname: str) -> dict[str, Any]:
    found = await rt.db.read(orgs.collaborators, org.id)
    return {
        "collaborators": [
            {
                "kind": "user",
                "name": account.name,
                "avatar": views.avatar(account.name, account.email),
                "repositories": n,
            }
            for account, n in found
        ]
    }


@router.put(
    "/{orgname}/team/{teamname}", operation_id="updateOrganizationTeam", summary="Create or update a team"
)
async def update_organization_team(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str, body: TeamDescription
) -> dict[str, Any]:

    return _team_view(
        await account_service.put_team(rt, org, teamname, body.role, body.description, actor(who))
    )


@router.delete(
    "/{orgname}/team/{teamname}",
    operation_id="deleteOrganizationTeam",
    summary="Delete a team",
    status_code=204,
)
async def delete_organization_team(rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str) -> Response:
    team = await org_team(rt, org, teamname)
    await rt.db.write(teams.delete_team, org, team, actor(who))
    return Response(status_code=204)


@router.get(
    "/{orgname}/team/{teamname}/members",
    operation_id="getOrganizationTeamMembers",
    summary="List a team's members",
)
async def get_organization_team_members(
    rt: Rt,
    org: AdminOrg,
    who: User,
    orgname: str,
    teamname: str,
    includePending: bool = False,
) -> dict[str, Any]:
    team = await org_team(rt, org, teamname)
    members = await rt.db.read(teams.member_names, team)
    listed = [_team_member_view(n, kind == "robot", None, invited=False) for n, kind in members]
    if includePending:
        listed += [_invite_view(p) for p in await invite_service.pending(rt, team)]
    return {**await _sync_view(rt, who, org, team), "name": team.name, "members": listed, "can_edit": True}


def _team_member_view(name: str, is_robot: bool, email: str | None, *, invited: bool) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "user",
        "is_robot": is_robot,
        "avatar": views.avatar(name, email),
        "invited": invited,
    }


def _invite_view(p: invite_service.Pending) -> dict[str, Any]:
    """Quay's invite_view: a user's invitation shows as the user; an address's as kind `invite`."""
    if p.user is not None:
        return _team_member_view(p.user, False, None, invited=True)
    return {
        "email": p.email,
        "kind": "invite",
        "avatar": views.avatar(p.email or "", p.email),
        "invited": True,
    }


async def _sync_view(
    rt: Runtime, who: Identity, org: AccountRecord, team: teams.TeamRecord
) -> dict[str, Any]:
    """Quay's `can_sync` (who may bind the team to a group, and where groups are) and `synced`
    (the binding: its service for everyone, its configuration and last synchronization for a
    superuser; Wharf adds the last error)."""
    if not directory_sync.syncing_enabled(rt):
        return {}
    out: dict[str, Any] = {}
    if _may_set_up_sync(rt, who):
        out["can_sync"] = {"service": federated_logins.LDAP, "base_dn": ",".join(rt.settings.LDAP_BASE_DN)}
    sync = await directory_sync.sync_of(rt, team)
    if sync is not None:
        out["synced"] = {"service": sync.service}
        if who.is_superuser or await rt.db.read(permissions.can_admin_org, who, org):
            out["synced"].update(
                config=sync.config,
                last_updated=views.date(sync.last_updated_ms) if sync.last_updated_ms else None,
                last_error=sync.last_error,
                last_error_at=views.date(sync.last_error_ms) if sync.last_error_ms else None,
            )
    return out


def _may_set_up_sync(rt: Runtime, who: Identity) -> bool:
    # Quay leaves binding teams to groups to superusers unless FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP.
    return who.is_superuser or rt.settings.FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP


class TeamSyncConfig(BaseModel):
    group_dn: str = Field(max_length=1024)


def _check_sync_setup(rt: Runtime, who: Identity) -> None:
    if not directory_sync.syncing_enabled(rt):
        raise not_found(
            "team synchronization is not enabled (FEATURE_TEAM_SYNCING, AUTHENTICATION_TYPE: LDAP)"
        )
    if not _may_set_up_sync(rt, who):
        raise forbidden(
            "only superusers may synchronize teams with directory groups "
            "(FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP lets organization admins)"
        )


@router.post(
    "/{orgname}/team/{teamname}/syncing",
    operation_id="enableOrganizationTeamSync",
    summary="Make a team's users follow a directory group",
    dependencies=[FreshLogin],
)
async def enable_organization_team_sync(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str, body: TeamSyncConfig
) -> dict[str, Any]:
    _check_sync_setup(rt, who)
    team = await org_team(rt, org, teamname)
    await directory_sync.enable(rt, org, team, body.group_dn, actor(who))
    return {
        **_team_view(account_service.TeamCounts(team, *await rt.db.read(teams.counts, team))),
        **await _sync_view(rt, who, org, team),
    }


@router.delete(
    "/{orgname}/team/{teamname}/syncing",
    operation_id="disableOrganizationTeamSync",
    summary="Stop a team's users following a directory group",
    dependencies=[FreshLogin],
)
async def disable_organization_team_sync(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str
) -> dict[str, Any]:
    _check_sync_setup(rt, who)
    team = await org_team(rt, org, teamname)
    await directory_sync.disable(rt, org, team, actor(who))
    return _team_view(account_service.TeamCounts(team, *await rt.db.read(teams.counts, team)))


@router.put(
    "/{orgname}/team/{teamname}/members/{membername}",
    operation_id="updateOrganizationTeamMember",
    summary="Add a user or robot to a team",
)
async def update_organization_team_member(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str, membername: str
) -> dict[str, Any]:
    team = await org_team(rt, org, teamname)
    member = await rt.db.read(accounts.get_by_name, membername)
    if member is None or member.kind == "org":
        raise not_found(f"no user or robot named {membername!r}")
    invited = await invite_service.add_or_invite(rt, org, team, member, actor(who))
    return _team_member_view(member.name, member.kind == "robot", member.email, invited=invited)


@router.delete(
    "/{orgname}/team/{teamname}/members/{membername}",
    operation_id="deleteOrganizationTeamMember",
    summary="Remove a member from a team",
    status_code=204,
)
async def delete_organization_team_member(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str, membername: str
) -> Response:
    team = await org_team(rt, org, teamname)
    member = await rt.db.read(accounts.get_by_name, membername)
    if member is None:
        raise not_found(f"no user or robot named {membername!r}")
    # As on Quay: an invitation of the user, if there is one, is withdrawn instead.
    if not await invite_service.cancel(rt, org, team, actor(who), user=member):
        await rt.db.write(teams.remove_member, org, team, member, actor(who))
    return Response(status_code=204)


@router.put(
    "/{orgname}/team/{teamname}/invite/{email}",
    operation_id="inviteTeamMemberEmail",
    summary="Invite an e-mail address to a team",
)
async def invite_team_member_email(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str, email: str
) -> dict[str, Any]:
    team = await org_team(rt, org, teamname)
    try:
        stored = await invite_service.invite_email(rt, org, team, email, actor(who))
    except invite_service.MailUnavailable as e:
        raise invalid_request(str(e)) from None
    return {"email": stored, "kind": "invite", "avatar": views.avatar(stored, stored), "invited": True}


@router.delete(
    "/{orgname}/team/{teamname}/invite/{email}",
    operation_id="deleteTeamMemberEmailInvite",
    summary="Withdraw the invitation of an e-mail address to a team",
    status_code=204,
)
async def delete_team_member_email_invite(
    rt: Rt, org: AdminOrg, who: User, orgname: str, teamname: str, email: str
) -> Response:
    team = await org_team(rt, org, teamname)
    if not await invite_service.cancel(rt, org, team, actor(who), email=email):
        raise not_found(f"no invitation of {email} to team {teamname}")
    return Response(status_code=204)


@router.get(
    "/{orgname}/team/{teamname}/permissions",
    operation_id="getOrganizationTeamPermissions",
    summary="The repository roles granted to a team",
)
async def get_organization_team_permissions(rt: Rt, who: User, orgname: str, teamname: str) -> dict[str, Any]:
    org = await organization(rt, orgname)
    if not await rt.db.read(permissions.is_org_member, who, org):
        raise forbidden(f"only members of {orgname} may see its teams")
    team = await org_team(rt, org, teamname)
    held = await rt.db.read(grants.held_by_team, team.id)
    return views.held_roles(held)

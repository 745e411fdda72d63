"""/api/v1/entities/{prefix}: Quay's getMatchingEntities, the autocomplete of the permission and
team dialogs: users, robots and teams (and the organization itself) by name prefix."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from wharf.api import views
from wharf.api.deps import Rt, User
from wharf.auth import permissions
from wharf.core import accounts, entities
from wharf.core.accounts import AccountRecord
from wharf.core.entities import Entity

router = APIRouter(prefix="/entities", tags=["search"])


def _account_view(e: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": e.name,
        "kind": "user",  # Quay calls robots users too, with is_robot
        "is_robot": e.kind == "robot",
        "avatar": views.avatar(e.name, e.email),
    }
    if e.is_org_member is not None:
        out["is_org_member"] = e.kind == "robot" or e.is_org_member
    return out


def _team_view(name: str) -> dict[str, Any]:
    return {"name": name, "kind": "team", "is_org_member": True, "avatar": views.avatar(name, None, "team")}


@router.get(
    "/{prefix}",
    operation_id="getMatchingEntities",
    summary="Users, robots, teams and organizations whose names start with the prefix",
)
async def get_matching_entities(
    rt: Rt,
    who: User,
    prefix: str,
    namespace: str = Query("", max_length=255),
    include_teams: bool = Query(False, alias="includeTeams"),
    include_orgs: bool = Query(False, alias="includeOrgs"),
) -> dict[str, Any]:
    # Signed-in callers only (Quay answers anyone): the names of every user are not for the world.
    folded = entities.normalize(prefix)
    if folded is None:
        return {"results": []}
    found = await rt.db.read(accounts.get_by_name, namespace) if namespace else None
    org: AccountRecord | None = found if found is not None and found.kind == "org" else None
    robot_namespace, teams, orgs = None, [], []
    if org is not None and await rt.db.read(permissions.is_org_member, who, org):
        robot_namespace = org.name
        if include_teams:
            teams = [_team_view(t) for t in await rt.db.read(entities.matching_teams, org.id, folded)]
        if (
            include_orgs
            and org.name.startswith(folded)
            and await rt.db.read(permissions.can_admin_org, who, org)
        ):
            orgs = [
                {
                    "name": org.name,
                    "kind": "org",
                    "is_org_member": True,
                    "avatar": views.avatar(org.name, org.email, "org"),
                }
            ]
    elif org is None and namespace and namespace == who.name:
        robot_namespace = namespace  # the caller's own robots
    users = await rt.db.read(
        entities.matching_accounts, folded, robot_namespace=robot_namespace, org_id=org.id if org else None
    )
    return {"results": teams + [_account_view(e) for e in users] + orgs}

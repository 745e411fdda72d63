"""Robot accounts of users (/api/v1/user/robots) and organizations (/api/v1/organization/{org}/robots)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Body, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.access import AdminOrg, own_user
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.auth import permissions as auth_permissions
from wharf.auth.identity import Identity
from wharf.core import grants, robots
from wharf.core.accounts import AccountRecord
from wharf.core.robots import RobotRecord
from wharf.runtime import Runtime
from wharf.services import accounts as account_service
from wharf.services import robots as robot_service

router = APIRouter(tags=["robot"])


class CreateRobot(BaseModel):
    description: str = Field(default="", max_length=255)
    unstructured_metadata: dict[str, Any] = Field(default_factory=dict)


def _view(rt: Runtime, robot: RobotRecord, with_token: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": robot.account.name,
        "created": format_datetime(datetime.fromtimestamp(robot.created_ms / 1000, UTC)),
        "last_accessed": views.date(robot.last_accessed_ms),
        "description": robot.description,
        "unstructured_metadata": robot.metadata,
    }
    if with_token:
        out["token"] = rt.secrets.open(robot.token_ciphertext)
    return out


async def _robot(rt: Rt, owner: AccountRecord, shortname: str) -> RobotRecord:
    robot = await rt.db.read(robots.get, owner, shortname)
    if robot is None:
        raise not_found(f"no robot {owner.name}+{shortname}")
    return robot


async def _list(rt: Rt, owner: AccountRecord, token: bool, with_permissions: bool) -> dict[str, Any]:
    out = []
    for found in await account_service.robots_of(rt, owner, with_permissions):
        view = _view(rt, found.robot, token)
        if found.repositories is not None and found.teams is not None:
            view["repositories"] = found.repositories
            view["teams"] = [{"name": t, "avatar": views.avatar(t, None, "team")} for t in found.teams]
        out.append(view)
    return {"robots": out}


async def _create(
    rt: Rt, who: Identity, owner: AccountRecord, shortname: str, body: CreateRobot | None
) -> Response:
    body = body or CreateRobot()
    try:
        robot = await robot_service.create(
            rt,
            owner,
            shortname,
            description=body.description,
            metadata=body.unstructured_metadata,
            by=actor(who),
        )
    except robot_service.RobotsDisallowed:
        raise invalid_request("robot accounts are disabled on this registry (ROBOTS_DISALLOW)") from None
    return JSONResponse(_view(rt, robot, True), status_code=201)


async def _regenerate(rt: Rt, who: Identity, owner: AccountRecord, shortname: str) -> dict[str, Any]:
    robot = await _robot(rt, owner, shortname)
    await rt.db.write(robots.regenerate, rt.secrets, robot, owner, actor(who))
    return _view(rt, await _robot(rt, owner, shortname), True)


async def _delete(rt: Rt, who: Identity, owner: AccountRecord, shortname: str) -> Response:
    robot = await _robot(rt, owner, shortname)
    await rt.db.write(robots.delete_robot, robot, owner, actor(who))
    return Response(status_code=204)


NewRobot = Body(default=None)


async def _unrestricted_owner(rt: Rt, who: Identity) -> AccountRecord:
    """The caller's own account, for changing its robots: refused to restricted users, as Quay
    does (a robot of theirs would be a way around the restriction)."""
    owner = await own_user(rt, who, "only users own robot accounts here")
    if await rt.db.read(auth_permissions.is_restricted, rt.settings, who):
        raise forbidden("restricted users cannot have robot accounts of their own (FEATURE_RESTRICTED_USERS)")
    return owner


@router.get("/user/robots", operation_id="getUserRobots", summary="List your robot accounts")
async def get_user_robots(rt: Rt, who: User, token: bool = True, permissions: bool = False) -> dict[str, Any]:
    return await _list(rt, await own_user(rt, who, "only users own robot accounts here"), token, permissions)


@router.get("/user/robots/{robot_shortname}", operation_id="getUserRobot", summary="Get one of your robots")
async def get_user_robot(rt: Rt, who: User, robot_shortname: str) -> dict[str, Any]:
    return _view(
        rt,
        await _robot(rt, await own_user(rt, who, "only users own robot accounts here"), robot_shortname),
        True,
    )


@router.put(
    "/user/robots/{robot_shortname}",
    operation_id="createUserRobot",
    summary="Create a robot account",
    status_code=201,
)
async def create_user_robot(
    rt: Rt, who: User, robot_shortname: str, body: CreateRobot | None = NewRobot
) -> Response:
    return await _create(rt, who, await _unrestricted_owner(rt, who), robot_shortname, body)


@router.delete(
    "/user/robots/{robot_shortname}",
    operation_id="deleteUserRobot",
    summary="Delete a robot",
    status_code=204,
)
async def delete_user_robot(rt: Rt, who: User, robot_shortname: str) -> Response:
    return await _delete(rt, who, await _unrestricted_owner(rt, who), robot_shortname)


@router.post(
    "/user/robots/{robot_shortname}/regenerate",
    operation_id="regenerateUserRobotToken",
    summary="Replace a robot's token; the old one stops working at once",
)
async def regenerate_user_robot_token(rt: Rt, who: User, robot_shortname: str) -> dict[str, Any]:
    return await _regenerate(rt, who, await _unrestricted_owner(rt, who), robot_shortname)


@router.get(
    "/organization/{orgname}/robots", operation_id="getOrgRobots", summary="List an organization's robots"
)
async def get_org_robots(
    rt: Rt, org: AdminOrg, who: User, orgname: str, token: bool = True, permissions: bool = False
) -> dict[str, Any]:
    token = token and await rt.db.read(auth_permissions.may_see_org_secrets, who, org)
    return await _list(rt, org, token, permissions)


@router.get(
    "/organization/{orgname}/robots/{robot_shortname}",
    operation_id="getOrgRobot",
    summary="Get an organization's robot",
)
async def get_org_robot(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str
) -> dict[str, Any]:
    with_token = await rt.db.read(auth_permissions.may_see_org_secrets, who, org)
    return _view(rt, await _robot(rt, org, robot_shortname), with_token)


@router.put(
    "/organization/{orgname}/robots/{robot_shortname}",
    operation_id="createOrgRobot",
    summary="Create a robot account in an organization",
    status_code=201,
)
async def create_org_robot(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str, body: CreateRobot | None = NewRobot
) -> Response:
    return await _create(rt, who, org, robot_shortname, body)


@router.delete(
    "/organization/{orgname}/robots/{robot_shortname}",
    operation_id="deleteOrgRobot",
    summary="Delete an organization's robot",
    status_code=204,
)
async def delete_org_robot(rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str) -> Response:
    return await _delete(rt, who, org, robot_shortname)


@router.post(
    "/organization/{orgname}/robots/{robot_shortname}/regenerate",
    operation_id="regenerateOrgRobotToken",
    summary="Replace an organization robot's token",
)
async def regenerate_org_robot_token(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str
) -> dict[str, Any]:
    return await _regenerate(rt, who, org, robot_shortname)


async def _robot_permissions(rt: Rt, owner: AccountRecord, shortname: str) -> dict[str, Any]:
    robot = await _robot(rt, owner, shortname)
    held = await rt.db.read(grants.held_by_account, robot.account.id)
    return views.held_roles(held)


@router.get(
    "/user/robots/{robot_shortname}/permissions",
    operation_id="getUserRobotPermissions",
    summary="The repository roles a robot holds",
)
async def get_user_robot_permissions(rt: Rt, who: User, robot_shortname: str) -> dict[str, Any]:
    return await _robot_permissions(
        rt, await own_user(rt, who, "only users own robot accounts here"), robot_shortname
    )


@router.get(
    "/organization/{orgname}/robots/{robot_shortname}/permissions",
    operation_id="getOrgRobotPermissions",
    summary="The repository roles an organization's robot holds",
)
async def get_org_robot_permissions(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str
) -> dict[str, Any]:
    return await _robot_permissions(rt, org, robot_shortname)


class FederationEntry(BaseModel):
    # Missing fields default to "" so that the answer is Quay's "Missing one or more required fields".
    issuer: str = Field("", max_length=2048)
    subject: str = Field("", max_length=1024)


async def _federation(rt: Rt, owner: AccountRecord, shortname: str) -> list[dict[str, str]]:
    robot = await _robot(rt, owner, shortname)
    return [{"issuer": i, "subject": s} for i, s in await rt.db.read(robots.federation, robot.account.id)]


async def _set_federation(
    rt: Rt, who: Identity, owner: AccountRecord, shortname: str, entries: list[FederationEntry]
) -> list[dict[str, str]]:
    robot = await _robot(rt, owner, shortname)
    pairs = [(e.issuer, e.subject) for e in entries]
    await rt.db.write(robots.set_federation, robot, owner, pairs, actor(who))
    return await _federation(rt, owner, shortname)


async def _delete_federation(rt: Rt, who: Identity, owner: AccountRecord, shortname: str) -> Response:
    robot = await _robot(rt, owner, shortname)
    await rt.db.write(robots.delete_federation, robot, owner, actor(who))
    return Response(status_code=204)


@router.get(
    "/user/robots/{robot_shortname}/federation",
    operation_id="getUserRobotFederation",
    summary="The OIDC identities trusted to act as your robot",
)
async def get_user_robot_federation(rt: Rt, who: User, robot_shortname: str) -> list[dict[str, str]]:
    return await _federation(
        rt, await own_user(rt, who, "only users own robot accounts here"), robot_shortname
    )


@router.post(
    "/user/robots/{robot_shortname}/federation",
    operation_id="createUserRobotFederation",
    summary="Set the OIDC identities ({issuer, subject}) trusted to act as your robot (keyless login)",
)
async def create_user_robot_federation(
    rt: Rt, who: User, robot_shortname: str, body: list[FederationEntry]
) -> list[dict[str, str]]:
    return await _set_federation(rt, who, await _unrestricted_owner(rt, who), robot_shortname, body)


@router.delete(
    "/user/robots/{robot_shortname}/federation",
    operation_id="deleteUserRobotFederation",
    summary="Trust no OIDC identity for your robot any more",
    status_code=204,
)
async def delete_user_robot_federation(rt: Rt, who: User, robot_shortname: str) -> Response:
    return await _delete_federation(rt, who, await _unrestricted_owner(rt, who), robot_shortname)


@router.get(
    "/organization/{orgname}/robots/{robot_shortname}/federation",
    operation_id="getOrgRobotFederation",
    summary="The OIDC identities trusted to act as an organization's robot",
)
async def get_org_robot_federation(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str
) -> list[dict[str, str]]:
    return await _federation(rt, org, robot_shortname)


@router.post(
    "/organization/{orgname}/robots/{robot_shortname}/federation",
    operation_id="createOrgRobotFederation",
    summary="Set the OIDC identities ({issuer, subject}) trusted to act as an organization's robot",
)
async def create_org_robot_federation(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str, body: list[FederationEntry]
) -> list[dict[str, str]]:
    return await _set_federation(rt, who, org, robot_shortname, body)


@router.delete(
    "/organization/{orgname}/robots/{robot_shortname}/federation",
    operation_id="deleteOrgRobotFederation",
    summary="Trust no OIDC identity for an organization's robot any more",
    status_code=204,
)
async def delete_org_robot_federation(
    rt: Rt, org: AdminOrg, who: User, orgname: str, robot_shortname: str
) -> Response:
    return await _delete_federation(rt, who, org, robot_shortname)

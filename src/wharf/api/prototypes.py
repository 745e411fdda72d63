"""/api/v1/organization/{orgname}/prototypes: default permissions for new repositories."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from wharf.api import views
from wharf.api.access import AdminOrg
from wharf.api.deps import Rt, User, actor
from wharf.core import prototypes
from wharf.core.prototypes import PrototypeRecord

router = APIRouter(prefix="/organization/{orgname}/prototypes", tags=["prototype"])


class Delegate(BaseModel):
    kind: Literal["user", "team"]
    name: str


class ActivatingUser(BaseModel):
    name: str


class NewPrototype(BaseModel):
    role: Literal["read", "write", "admin"]
    delegate: Delegate
    activating_user: ActivatingUser | None = None


class PrototypeUpdate(BaseModel):
    role: Literal["read", "write", "admin"]


def _view(p: PrototypeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p.id, "role": p.role}
    if p.activating is not None:
        out["activating_user"] = {
            "name": p.activating.name,
            "is_robot": p.activating.kind == "robot",
            "kind": "user",
            "avatar": views.avatar(p.activating.name, p.activating.email),
        }
    if p.delegate_account is not None:
        a = p.delegate_account
        out["delegate"] = {
            "name": a.name,
            "kind": "user",
            "is_robot": a.kind == "robot",
            "avatar": views.avatar(a.name, a.email),
        }
    elif p.delegate_team is not None:
        out["delegate"] = {
            "name": p.delegate_team.name,
            "kind": "team",
            "is_robot": False,
            "avatar": views.avatar(p.delegate_team.name, None, "team"),
        }
    return out


@router.get("", operation_id="getOrganizationPrototypePermissions", summary="List default permissions")
async def get_prototypes(rt: Rt, org: AdminOrg, who: User, orgname: str) -> dict[str, Any]:
    return {"prototypes": [_view(p) for p in await rt.db.read(prototypes.list_for, org)]}


@router.post("", operation_id="createOrganizationPrototypePermission", summary="Add a default permission")
async def create_prototype(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: NewPrototype
) -> dict[str, Any]:
    created = await rt.db.write(
        prototypes.create_named,
        org,
        body.role,
        delegate_kind=body.delegate.kind,
        delegate_name=body.delegate.name,
        activating_name=body.activating_user.name if body.activating_user else None,
        actor=actor(who),
    )
    return _view(created)


@router.put(
    "/{prototypeid}",
    operation_id="updateOrganizationPrototypePermission",
    summary="Change a default permission's role",
)
async def update_prototype(
    rt: Rt, org: AdminOrg, who: User, orgname: str, prototypeid: str, body: PrototypeUpdate
) -> dict[str, Any]:
    return _view(await rt.db.write(prototypes.change_role, org, prototypeid, body.role, actor(who)))


@router.delete(
    "/{prototypeid}",
    operation_id="deleteOrganizationPrototypePermission",
    summary="Remove a default permission",
    status_code=204,
)
async def delete_prototype(rt: Rt, org: AdminOrg, who: User, orgname: str, prototypeid: str) -> Response:
    await rt.db.write(prototypes.delete_prototype, org, prototypeid, actor(who))
    return Response(status_code=204)

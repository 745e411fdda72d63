"""POST /api/v1/user/convert: Quay's convertUserToOrganization. The signed-in user's account
becomes an organization owned by another user, who proves it with their password (`adminUser`,
`adminPassword`); `plan` is accepted and ignored (Wharf has no billing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from wharf.api.access import own_user
from wharf.api.deps import FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request
from wharf.core import conversion

router = APIRouter(tags=["user"])


class ConvertUser(BaseModel):
    adminUser: str = Field(min_length=1, max_length=255)
    adminPassword: str = Field(min_length=1, max_length=1024)
    plan: str | None = Field(default=None, max_length=255)


@router.post(
    "/user/convert",
    operation_id="convertUserToOrganization",
    summary="Convert the signed-in user into an organization",
    dependencies=[FreshLogin],
)
async def convert_user_to_organization(rt: Rt, who: User, body: ConvertUser) -> dict[str, Any]:
    if rt.settings.AUTHENTICATION_TYPE != "Database":
        raise forbidden("accounts kept by a directory cannot be converted into organizations")
    me = await own_user(rt, who, "only a user can be converted into an organization")
    admin = await rt.passwords.authenticate(rt.db, body.adminUser, body.adminPassword)
    if admin is None:
        raise invalid_request("The admin user credentials are not valid")
    await rt.db.write(conversion.convert, me, admin, actor(who))
    # Quay signs the admin in here; Wharf leaves that to the client (this account's sessions ended).
    return {"success": True}

"""/api/v1/user/ and /api/v1/users/{username}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wharf.api import views
from wharf.api.deps import Rt, User
from wharf.api.errors import forbidden, not_found
from wharf.auth import permissions
from wharf.core import accounts

router = APIRouter(tags=["user"])


@router.get("/user/", operation_id="getLoggedInUser", summary="Get the signed-in user")
async def get_logged_in_user(rt: Rt, who: User) -> dict[str, Any]:
    if not permissions.can_read_user(who):
        raise forbidden("the token lacks the user:read scope")
    assert who.name is not None
    account = await rt.db.read(accounts.get_by_name, who.name)
    if account is None:
        raise not_found("the signed-in user no longer exists")
    return views.own_user(rt, account)


@router.get("/users/{username}", operation_id="getUserInformation", summary="Get a user's public information")
async def get_user_information(rt: Rt, username: str) -> dict[str, Any]:
    account = await rt.db.read(accounts.get_by_name, username)
    if account is None or account.kind != "user":
        raise not_found(f"no user named {username!r}")
    return views.public_user(rt, account)

"""/api/v1/user/clientkey: a key the docker client can store instead of your password (Quay's
generateUserClientKey). It works until the password changes (a directory user's: in the
directory)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from wharf.api.access import own_user
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import forbidden, invalid_request
from wharf.auth import client_keys
from wharf.auth.identity import Identity
from wharf.core import client_keys as core_client_keys
from wharf.core import scopes
from wharf.services import accounts as account_service

router = APIRouter(prefix="/user", tags=["user"])


class GenerateClientKey(BaseModel):
    password: str = Field(max_length=1024, description="Your password")


@router.post(
    "/clientkey",
    operation_id="generateUserClientKey",
    summary="A key to use instead of your password in docker login",
)
async def generate_user_client_key(rt: Rt, who: User, body: GenerateClientKey) -> dict[str, Any]:
    if who.kind == "robot" or not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")
    assert who.name is not None
    if rt.directory is not None:
        return {"key": await _directory_key(rt, who, body.password)}
    account = await rt.passwords.authenticate(rt.db, who.name, body.password)
    if account is None or account.id != who.account_id:
        raise invalid_request("Invalid password")
    fingerprint = await rt.db.write(core_client_keys.issued, account, actor(who))
    if fingerprint is None:
        raise invalid_request("Invalid password")
    return {"key": client_keys.seal(rt, account.id, fingerprint)}


async def _directory_key(rt: Rt, who: Identity, password: str) -> str:
    account = await own_user(rt, who, "only users have client keys")
    key = await account_service.directory_client_key(rt, account, password, actor(who))
    if key is None:
        raise invalid_request("Invalid password")
    return key

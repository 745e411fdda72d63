"""/api/v1/user/apptoken: app-specific tokens for CLI logins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.deps import FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden
from wharf.auth.identity import Identity
from wharf.core import accounts, apptokens, scopes
from wharf.core.accounts import AccountRecord
from wharf.core.apptokens import AppTokenRecord

router = APIRouter(prefix="/user/apptoken", tags=["apptoken"])


class NewToken(BaseModel):
    title: str = Field(max_length=255)
    expiration: int | None = Field(
        default=None, ge=1, description="Lifetime in seconds; none means no expiry."
    )


def _view(token: AppTokenRecord, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uuid": token.uuid,
        "title": token.title,
        "last_accessed": views.date(token.last_used_ms),
        "created": views.date(token.created_ms),
        "expiration": views.date(token.expires_ms),
    }
    if secret is not None:
        out["token_code"] = secret
    return out


async def _me(rt: Rt, who: Identity) -> AccountRecord:
    if not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")
    assert who.account_id is not None
    account = await rt.db.read(accounts.get_by_id, who.account_id)
    if account is None or account.kind != "user":
        raise forbidden("only users have app tokens")
    return account


@router.get("", operation_id="listAppTokens", summary="List your app-specific tokens")
async def list_app_tokens(rt: Rt, who: User) -> dict[str, Any]:
    return {"tokens": [_view(t) for t in await rt.db.read(apptokens.list_for, await _me(rt, who))]}


@router.post("", operation_id="createAppToken", summary="Create an app-specific token (shown once)")
async def create_app_token(rt: Rt, who: User, body: NewToken) -> JSONResponse:
    me = await _me(rt, who)
    lifetime = body.expiration * 1000 if body.expiration else None
    token, secret = await rt.db.write(apptokens.create, me, body.title, lifetime, actor(who))
    return JSONResponse({"token": _view(token, secret)})  # 200, as Quay answers


@router.get(
    "/{token_uuid}",
    operation_id="getAppToken",
    dependencies=[FreshLogin],
    summary="Get an app-specific token",
)
async def get_app_token(rt: Rt, who: User, token_uuid: str) -> dict[str, Any]:
    return {"token": _view(await rt.db.read(apptokens.get, await _me(rt, who), token_uuid))}


@router.delete(
    "/{token_uuid}",
    operation_id="revokeAppToken",
    dependencies=[FreshLogin],
    summary="Revoke an app-specific token",
    status_code=204,
)
async def revoke_app_token(rt: Rt, who: User, token_uuid: str) -> Response:
    await rt.db.write(apptokens.revoke, await _me(rt, who), token_uuid, actor(who))
    return Response(status_code=204)

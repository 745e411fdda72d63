"""/api/v1/user/authorizations: the OAuth applications the signed-in user has authorized, with
Quay's listUserAuthorizations, getUserAuthorization and deleteUserAuthorization."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from wharf.api import views
from wharf.api.access import own_user
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import not_found
from wharf.core import authorizations, scopes
from wharf.core.authorizations import Authorization

router = APIRouter(prefix="/user/authorizations", tags=["user"])


def _scope_view(name: str) -> dict[str, Any]:
    described = scopes.DESCRIPTIONS.get(name)
    return {
        "scope": name,
        "title": described.title if described else name,
        "description": described.detail if described else "",
        "dangerous": described.dangerous if described else False,
    }


def _view(a: Authorization) -> dict[str, Any]:
    """Quay's authorization_view."""
    ordered = [s for s in scopes.DESCRIPTIONS if s in a.scopes] + sorted(a.scopes - set(scopes.DESCRIPTIONS))
    return {
        "application": {
            "name": a.app_name,
            "description": a.app_description,
            "url": a.app_uri,
            "avatar": views.avatar(a.app_name, a.app_email, "app"),
            "organization": {"name": a.org_name, "avatar": views.avatar(a.org_name, a.org_email, "org")},
        },
        "scopes": [_scope_view(s) for s in ordered],
        "uuid": a.uuid,
    }


@router.get("", operation_id="listUserAuthorizations", summary="The OAuth applications the user authorized")
async def list_user_authorizations(rt: Rt, who: User) -> dict[str, Any]:
    me = await own_user(rt, who, "only a user has authorizations")
    return {"authorizations": [_view(a) for a in await rt.db.read(authorizations.list_for, me.id)]}


@router.get(
    "/{access_token_uuid}", operation_id="getUserAuthorization", summary="One authorization of the user"
)
async def get_user_authorization(rt: Rt, who: User, access_token_uuid: str) -> dict[str, Any]:
    me = await own_user(rt, who, "only a user has authorizations")
    found = await rt.db.read(authorizations.list_for, me.id, access_token_uuid)
    if not found:
        raise not_found("no such authorization")
    return _view(found[0])


@router.delete(
    "/{access_token_uuid}",
    operation_id="deleteUserAuthorization",
    summary="Revoke an authorization of the user",
    status_code=204,
)
async def delete_user_authorization(rt: Rt, who: User, access_token_uuid: str) -> Response:
    me = await own_user(rt, who, "only a user has authorizations")
    if not await rt.db.write(authorizations.delete_for, me.id, access_token_uuid, actor(who)):
        raise not_found("no such authorization")
    return Response(status_code=204)

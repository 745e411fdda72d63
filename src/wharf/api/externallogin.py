"""Quay's external-login endpoints for its web client: the provider's authorization URL
(retrieveExternalLoginAuthorizationUrl) and removing a provider from the account
(detachExternalLogin). The browser comes back at /oauth2/{service}/callback
(web/pages/external_login.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from wharf.api.access import own_user
from wharf.api.deps import Caller, Rt, User, actor
from wharf.api.errors import ApiError, forbidden, invalid_request, not_found, unauthorized
from wharf.auth import browser
from wharf.core import scopes
from wharf.core.external_login_states import ATTACH, LIFETIME_MS, LOGIN
from wharf.services import external_login
from wharf.services.external_login import BROWSER_COOKIE, ExternalLoginFailed, LastWayIn

router = APIRouter(tags=["user"])


class GetLogin(BaseModel):
    kind: Literal["login", "attach", "cli"]
    """login: sign in; attach: link the provider to the signed-in account; cli: Quay's encrypted
    password for the docker client (not offered: OIDC users create an app token instead)."""


@router.post(
    "/externallogin/{service_id}",
    operation_id="retrieveExternalLoginAuthorizationUrl",
    summary="The URL that signs in with (or attaches) an external login provider",
)
async def retrieve_external_login_authorization_url(
    rt: Rt, request: Request, who: Caller, service_id: str, body: GetLogin
) -> JSONResponse:
    if external_login.provider(rt, service_id) is None:
        raise not_found(f"there is no login provider {service_id!r}")
    if body.kind == "cli":
        raise invalid_request(
            "kind cli is not offered: sign in, then create an app token (POST /api/v1/user/apptoken) "
            "to use as the password of podman login"
        )
    account_id = None
    if body.kind == ATTACH:
        if who.is_anonymous:
            raise unauthorized("sign in first to attach a login provider to your account")
        account_id = (await own_user(rt, who, "only users can attach a login provider")).id
    try:
        begun = await external_login.begin(
            rt,
            service_id,
            intent=ATTACH if body.kind == ATTACH else LOGIN,
            account_id=account_id,
            redirect=f"/user/{who.name}?tab=settings" if account_id is not None else "/",
            browser=request.cookies.get(BROWSER_COOKIE),
        )
    except ExternalLoginFailed as e:
        raise ApiError(503, "downstream_issue", str(e)) from None
    response = JSONResponse({"auth_url": begun.auth_url})
    browser.set_external_login_cookie(rt.settings, response, begun.browser, LIFETIME_MS // 1000)
    return response


@router.post(
    "/detachexternal/{service_id}",
    operation_id="detachExternalLogin",
    summary="Remove the link between your account and an external login provider",
)
async def detach_external_login(rt: Rt, who: User, service_id: str) -> dict[str, Any]:
    if who.kind == "robot" or not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")
    me = await own_user(rt, who, "only users have external logins")
    try:
        detached = await external_login.detach(rt, me.id, service_id, actor(who))
    except LastWayIn as e:
        raise invalid_request(str(e)) from None
    if not detached:
        raise not_found(f"the account is not linked to {service_id!r}")
    return {"success": True}

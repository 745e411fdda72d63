"""The token endpoint of OAuth applications (/oauth/access_token: a code from the consent page,
web/pages/oauth.py, traded with the client secret for a token) and the keyless robot login
(/oauth2/federation/robot/token)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from wharf.api.deps import Rt
from wharf.api.errors import ApiError, unauthorized
from wharf.api.signin import address
from wharf.auth import credentials
from wharf.auth.tokens import RobotPassword
from wharf.core import applications, audit
from wharf.services import applications as application_service

router = APIRouter(include_in_schema=False)

MAX_FORM = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise ApiError(413, "invalid_request", "the form is too large")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_request", "the form is not UTF-8") from None
    return {k: v[0] for k, v in parsed.items()}


def _oauth_error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@router.post("/oauth/access_token")
async def access_token(rt: Rt, request: Request) -> JSONResponse:
    form = await _form(request)
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    basic = credentials.parse_basic(request.headers.get("authorization", ""))
    if basic is not None:
        client_id, client_secret = basic
    if form.get("grant_type") != "authorization_code":
        return _oauth_error("unsupported_grant_type", "only grant_type=authorization_code is supported")
    app = await rt.db.read(applications.get, client_id)
    if app is None or not applications.secret_matches(rt.secrets, app, client_secret):
        return _oauth_error("invalid_client", "unknown client_id or wrong client_secret", 401)
    exchanged = await application_service.exchange_code(
        rt, app, form.get("code", ""), form.get("redirect_uri"), address(request)
    )
    if exchanged is None:
        return _oauth_error(
            "invalid_grant", "the code is invalid, expired, already used or for another redirect_uri"
        )
    token, granted = exchanged
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": applications.GRANTED_TOKEN_LIFETIME_S,
            "scope": " ".join(sorted(granted)),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/oauth2/federation/robot/token")
async def federated_robot_token(rt: Rt, request: Request) -> dict[str, Any]:
    """Trade an OIDC token of a trusted identity (Basic `owner+robot : <OIDC JWT>`) for a robot token."""
    basic = credentials.parse_basic(request.headers.get("authorization", ""))
    if basic is None or "+" not in basic[0]:
        raise unauthorized(
            "send Basic credentials: the robot's name and an OIDC token of an identity it trusts"
        )
    name, oidc_token = basic
    if oidc_token.count(".") != 2 or rt.tokens.signed_here(oidc_token):
        raise unauthorized("the password must be an OIDC token (JWT) from an issuer the robot trusts")
    try:
        identity = await credentials.basic_login(rt, name, oidc_token, address(request))
    except credentials.LoginThrottled as e:
        raise ApiError(429, "invalid_request", str(e), {"Retry-After": str(e.retry_after_s)}) from None
    if identity is None:
        raise unauthorized("the robot does not exist or does not trust this token's issuer and subject")
    # Bound to the robot's credential generation as it was when the OIDC token was checked.
    assert identity.account_id is not None and identity.generation is not None
    robot_id = identity.account_id
    lifetime_s = rt.settings.ROBOT_FEDERATION_TOKEN_LIFETIME_S
    actor = audit.Actor(robot_id, name, address(request), kind="robot")
    await rt.db.write(
        lambda db: audit.record(
            db, "federated_robot_token_exchange", actor, namespace_id=robot_id, robot=name
        )
    )
    issued = RobotPassword(name, robot_id, identity.generation)
    return {"token": rt.tokens.issue_robot(issued, lifetime_s), "expires_in": lifetime_s}

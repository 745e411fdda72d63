"""The OAuth 2 flows of applications (/oauth/authorize, /oauth/authorizeapp, /oauth/access_token)
and the keyless robot login (/oauth2/federation/robot/token).

Implicit grant: the token comes back in the redirect's fragment. Code grant: a single-use code
comes back in the query, and the application trades it with its client secret for a token.
Quay's "direct OAuth": for client ids in DIRECT_OAUTH_CLIENTID_WHITELIST, a script may approve
with HTTP Basic credentials instead of a browser session.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from wharf.api.deps import Rt, csrf_ok, session_of
from wharf.api.errors import ApiError, unauthorized
from wharf.api.signin import address, password_login, start_session
from wharf.auth import credentials, scopes
from wharf.auth.identity import Identity
from wharf.core import accounts, applications, audit, robots, tokens
from wharf.core.applications import ApplicationRecord
from wharf.runtime import Runtime

router = APIRouter(include_in_schema=False)

# Tokens handed out by the browser flows live as long as Quay's (ten years) unless revoked.
TOKEN_LIFETIME_S = 10 * 365 * 24 * 3600
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


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - Wharf</title>"
        "<meta name='referrer' content='no-referrer'></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
        headers={"X-Frame-Options": "DENY", "Cache-Control": "no-store"},
    )


def _redirect(uri: str, params: dict[str, str], fragment: bool) -> RedirectResponse:
    sep = "#" if fragment else ("&" if "?" in uri else "?")
    return RedirectResponse(uri + sep + urlencode(params), status_code=302)


class _Request:
    """The parameters of an authorization request, checked against the application."""

    def __init__(self, app: ApplicationRecord, redirect_uri: str, scope: str, response_type: str, state: str):
        self.app, self.redirect_uri, self.scope = app, redirect_uri, scope
        self.response_type, self.state = response_type, state

    def error(self, code: str, description: str) -> RedirectResponse:
        params = {"error": code, "error_description": description}
        if self.state:
            params["state"] = self.state
        return _redirect(self.redirect_uri, params, self.response_type == "token")

    def hidden_fields(self) -> str:
        fields = {
            "client_id": self.app.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "response_type": self.response_type,
            "state": self.state,
        }
        return "".join(
            f"<input type='hidden' name='{k}' value='{html.escape(v, quote=True)}'>"
            for k, v in fields.items()
        )


async def _authorization_request(rt: Runtime, params: dict[str, str]) -> _Request | HTMLResponse:
    """The checked request, or an error page: with an unknown client or a redirect URI the
    application did not register, nothing may be redirected anywhere."""
    app = await rt.db.read(applications.get, params.get("client_id", ""))
    if app is None:
        return _page("Unknown application", "<p>No application has this client_id.</p>", 404)
    redirect_uri = params.get("redirect_uri") or app.redirect_uri
    if not applications.redirect_allowed(app, redirect_uri):
        return _page(
            "Invalid redirect URI",
            "<p>The redirect_uri does not match the one registered for this application.</p>",
            400,
        )
    return _Request(
        app,
        redirect_uri,
        params.get("scope", ""),
        params.get("response_type", "token"),
        params.get("state", ""),
    )


def _check_grant(req: _Request) -> frozenset[str] | RedirectResponse:
    if req.response_type not in ("token", "code"):
        return req.error("unsupported_response_type", "response_type must be token or code")
    try:
        granted = scopes.parse(req.scope)
    except scopes.ScopeError as e:
        return req.error("invalid_scope", str(e))
    if not granted:
        return req.error("invalid_scope", "ask for at least one scope")
    return granted


@router.get("/oauth/authorize")
async def authorize(rt: Rt, request: Request) -> Response:
    req = await _authorization_request(rt, dict(request.query_params))
    if isinstance(req, HTMLResponse):
        return req
    granted = _check_grant(req)
    if isinstance(granted, RedirectResponse):
        return granted
    session = await session_of(request, rt)
    scope_list = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in sorted(granted))
    if session is None:
        who = (
            "<p><label>Username <input name='username' autocomplete='username' required></label></p>"
            "<p><label>Password <input name='password' type='password' autocomplete='current-password' "
            "required></label></p>"
        )
    else:
        who = (
            f"<p>Signed in as <b>{html.escape(session.account.name)}</b>.</p>"
            f"<input type='hidden' name='_csrf_token' value='{html.escape(session.csrf_token, quote=True)}'>"
        )
    body = (
        f"<p><b>{html.escape(req.app.name)}</b> asks to act on your behalf with these permissions:</p>"
        f"<ul>{scope_list}</ul><form method='post' action='/oauth/authorizeapp'>{req.hidden_fields()}{who}"
        "<button type='submit'>Authorize application</button></form>"
        f"<p>You will be sent to <code>{html.escape(req.redirect_uri)}</code>.</p>"
    )
    return _page(f"Authorize {req.app.name}", body)


def _refusal_page(refused: JSONResponse) -> HTMLResponse:
    message = json.loads(bytes(refused.body)).get("message", "Sign-in failed")
    return _page("Sign-in failed", f"<p>{html.escape(message)}</p>", refused.status_code)


async def _approver(
    rt: Runtime, request: Request, req: _Request, form: dict[str, str]
) -> tuple[Identity, bool] | HTMLResponse:
    """Who approves, and whether they typed their password into the consent page (which signs them
    in too): Basic credentials (whitelisted clients only), the browser session with its CSRF token,
    or the username and password of the consent page."""
    basic = credentials.parse_basic(request.headers.get("authorization", ""))
    if basic is not None:
        if req.app.client_id not in rt.settings.DIRECT_OAUTH_CLIENTID_WHITELIST:
            return _page(
                "Not allowed", "<p>This application may not be authorized with Basic credentials.</p>", 403
            )
        found = await password_login(rt, request, *basic)
        return _refusal_page(found) if isinstance(found, JSONResponse) else (found, False)
    session = await session_of(request, rt)
    if session is not None:
        if not csrf_ok(request, session, form.get("_csrf_token")):
            return _page("Expired form", "<p>The form expired (CSRF check failed); reload the page.</p>", 403)
        account = session.account
        return Identity("user", account.id, account.name), False
    if form.get("username") and form.get("password"):
        found = await password_login(rt, request, form["username"], form["password"])
        return _refusal_page(found) if isinstance(found, JSONResponse) else (found, True)
    return _page("Sign in first", "<p>Sign in to authorize this application.</p>", 401)


@router.post("/oauth/authorizeapp")
async def authorize_app(rt: Rt, request: Request) -> Response:
    form = await _form(request)
    req = await _authorization_request(rt, form)
    if isinstance(req, HTMLResponse):
        return req
    granted = _check_grant(req)
    if isinstance(granted, RedirectResponse):
        return granted
    approval = await _approver(rt, request, req, form)
    if isinstance(approval, HTMLResponse):
        return approval
    approver, typed_password = approval
    assert approver.account_id is not None
    account = await rt.db.read(accounts.get_by_id, approver.account_id)
    assert account is not None
    params: dict[str, str]
    if req.response_type == "code":
        code = await rt.db.write(applications.issue_code, req.app, account, granted, req.redirect_uri)
        params = {"code": code}
    else:
        token = await _mint(rt, req.app, account, granted, approver)
        params = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": str(TOKEN_LIFETIME_S),
            "scope": " ".join(sorted(granted)),
        }
    if req.state:
        params["state"] = req.state
    response = _redirect(req.redirect_uri, params, fragment=req.response_type == "token")
    if typed_password:
        await start_session(rt, approver, response)
    return response


async def _mint(
    rt: Runtime,
    app: ApplicationRecord,
    account: accounts.AccountRecord,
    granted: frozenset[str],
    who: Identity,
) -> str:
    return await rt.db.write(
        tokens.mint,
        account,
        granted,
        application_id=app.id,
        title=app.name,
        lifetime_ms=TOKEN_LIFETIME_S * 1000,
        actor=audit.Actor(who.account_id, who.name),
    )


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
    redeemed = await rt.db.write(
        applications.redeem_code, app, form.get("code", ""), form.get("redirect_uri")
    )
    if redeemed is None:
        return _oauth_error(
            "invalid_grant", "the code is invalid, expired, already used or for another redirect_uri"
        )
    account, granted = redeemed
    token = await _mint(rt, app, account, granted, Identity("user", account.id, account.name))
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
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
    if oidc_token.count(".") != 2 or rt.tokens.verify_robot(oidc_token) is not None:
        raise unauthorized("the password must be an OIDC token (JWT) from an issuer the robot trusts")
    try:
        identity = await credentials.basic_login(rt, name, oidc_token, address(request))
    except credentials.LoginThrottled as e:
        raise ApiError(429, "invalid_request", str(e), {"Retry-After": str(e.retry_after_s)}) from None
    if identity is None:
        raise unauthorized("the robot does not exist or does not trust this token's issuer and subject")
    robot = await rt.db.read(robots.get_by_name, name)
    assert robot is not None
    lifetime_s = rt.settings.ROBOT_FEDERATION_TOKEN_LIFETIME_S
    actor = audit.Actor(robot.account.id, name, address(request), kind="robot")
    await rt.db.write(
        lambda db: audit.record(
            db, "federated_robot_token_exchange", actor, namespace_id=robot.account.id, robot=name
        )
    )
    return {"token": rt.tokens.issue_robot(name, lifetime_s), "expires_in": lifetime_s}

"""Who is calling /api/v1: an OAuth bearer token, or the browser session cookie.

With the cookie, every request that changes something must also carry the session's CSRF token
(header X-CSRF-Token, from GET /csrf_token or the X-Next-CSRF-Token header of the sign-in), so that
another site cannot make a signed-in browser act.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from wharf.api.errors import ApiError, forbidden, unauthorized
from wharf.api.scope import runtime_of
from wharf.auth import browser, permissions
from wharf.auth.address import client_address
from wharf.auth.identity import ANONYMOUS, Identity
from wharf.core import audit, sessions, tokens
from wharf.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt = runtime_of(request)
    assert rt is not None, "the /api/v1 application is reached through api.app.for_runtime()"
    return rt


Rt = Annotated[Runtime, Depends(runtime)]


CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_METHODS = frozenset({"GET", "HEAD"})


async def session_of(request: Request, rt: Runtime) -> sessions.SessionRecord | None:
    return await browser.current(rt, request)


def csrf_ok(request: Request, session: sessions.SessionRecord, presented: str | None = None) -> bool:
    presented = presented or request.headers.get(CSRF_HEADER) or request.query_params.get("_csrf_token")
    return browser.csrf_matches(session, presented)


async def caller(request: Request, rt: Rt) -> Identity:
    who = await _credentials(request, rt)
    ip = client_address(request, rt.settings.TRUSTED_PROXIES)
    who = permissions.with_powers(rt.settings, who, reading=request.method in _READ_METHODS)
    return replace(who, ip=ip, origin=rt.settings.public_origin)


async def _credentials(request: Request, rt: Runtime) -> Identity:
    header = request.headers.get("authorization")
    if not header:
        session = await session_of(request, rt)
        if session is None:
            return ANONYMOUS
        if request.method not in _SAFE_METHODS and not csrf_ok(request, session):
            raise forbidden(
                f"CSRF token was invalid or missing: send the {CSRF_HEADER} header (GET /csrf_token)"
            )
        request.state.api_session = session  # for fresh_login
        return browser.identity_of(rt, session)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("only Authorization: Bearer <OAuth token> is accepted on /api/v1")
    owner = await rt.db.read(tokens.resolve, value.strip())
    if owner is None:
        raise unauthorized("the token is invalid, expired or revoked")
    account = owner.account
    superuser = permissions.is_configured_superuser(rt.settings, account)
    return Identity("oauthtoken", account.id, account.name, superuser, scopes=owner.scopes)


Caller = Annotated[Identity, Depends(caller)]


async def signed_in(who: Caller) -> Identity:
    if who.is_anonymous:
        raise unauthorized()
    return who


User = Annotated[Identity, Depends(signed_in)]


async def fresh_login(request: Request, who: User) -> Identity:
    """Quay's require_fresh_login: a browser session must have entered the password within
    FRESH_LOGIN_S before the superuser panel or deleting an account or organization, so that a
    browser left signed in cannot be used for them. A bearer token is a credential the client
    holds, not a left-open browser, and passes; a robot never does these things."""
    if who.kind == "robot":
        raise unauthorized("robot accounts cannot do this")
    session: sessions.SessionRecord | None = getattr(request.state, "api_session", None)
    if session is not None and not browser.login_is_fresh(session):
        raise ApiError(
            401,
            "fresh_login_required",
            "this action needs a recent sign-in: POST the password to /api/v1/signin/verify, then retry",
        )
    return who


FreshLogin = Depends(fresh_login)
"""As `dependencies=[FreshLogin]` on the endpoints Quay marks with require_fresh_login."""


def actor(who: Identity) -> audit.Actor:
    """The audit log's view of the caller."""
    return audit.Actor(who.account_id, who.name, who.ip, kind=who.kind, origin=who.origin)

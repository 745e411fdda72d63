"""Browser sessions: /api/v1/signin, /api/v1/signout, /api/v1/signin/verify and /csrf_token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from wharf.api.deps import CSRF_HEADER, Rt, csrf_ok, runtime, session_of
from wharf.api.errors import forbidden, unauthorized
from wharf.auth import browser, credentials
from wharf.auth.address import client_address
from wharf.auth.identity import Identity
from wharf.core import sessions
from wharf.runtime import Runtime

router = APIRouter(tags=["user"])


class SigninUser(BaseModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)
    invite_code: str | None = None


class VerifyUser(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


def address(request: Request) -> str | None:
    rt = runtime(request)
    return client_address(request, rt.settings.TRUSTED_PROXIES)


async def start_session(rt: Runtime, identity: Identity, response: Response) -> str:
    """Open a session for a password login: sets the cookie on `response`, returns the CSRF token."""
    assert identity.account_id is not None
    csrf = await browser.open_session(rt, identity.account_id, response)
    response.headers["X-Next-CSRF-Token"] = csrf
    return csrf


async def password_login(
    rt: Runtime, request: Request, username: str, password: str
) -> Identity | JSONResponse:
    """A user's password login, or the JSON answer that refuses it (robots and tokens cannot sign in)."""
    try:
        identity = await credentials.basic_login(rt, username, password, address(request))
    except credentials.LoginThrottled as e:
        return JSONResponse(
            {"success": False, "tooManyAttempts": True, "message": f"{e}; wait before signing in again"},
            status_code=429,
            headers={"Retry-After": str(e.retry_after_s)},
        )
    if identity is None or identity.kind != "user":
        return JSONResponse(
            {"success": False, "invalidCredentials": True, "message": "Invalid username or password"},
            status_code=403,
        )
    return identity


@router.post(
    "/api/v1/signin", operation_id="signinUser", summary="Sign in with a password (sets the session cookie)"
)
async def signin_user(rt: Rt, request: Request, body: SigninUser) -> JSONResponse:
    # As in Quay, the sign-in presents the CSRF token GET /csrf_token handed out (X-CSRF-Token),
    # so that another site cannot sign a browser into an account of its choosing.
    presented = request.headers.get(CSRF_HEADER)
    if not browser.pre_session_matches(request, presented):
        session = await session_of(request, rt)
        if session is None or not csrf_ok(request, session, presented):
            raise forbidden(
                f"CSRF token was invalid or missing: send the {CSRF_HEADER} header (GET /csrf_token)"
            )
    identity = await password_login(rt, request, body.username, body.password)
    if isinstance(identity, JSONResponse):
        return identity
    response = JSONResponse({"success": True})
    await start_session(rt, identity, response)
    return response


@router.post(
    "/api/v1/signin/verify",
    operation_id="verifyUser",
    summary="Enter the password again: the session counts as a fresh login",
)
async def verify_user(rt: Rt, request: Request, body: VerifyUser) -> JSONResponse:
    session = await session_of(request, rt)
    if session is None:
        raise unauthorized("sign in first (POST /api/v1/signin)")
    identity = await password_login(rt, request, session.account.name, body.password)
    if isinstance(identity, JSONResponse):
        return identity
    await rt.db.write_despite_read_only(sessions.refresh_login, session.id)
    return JSONResponse({"success": True})


@router.post("/api/v1/signout", operation_id="logout", summary="End the browser session")
async def logout(rt: Rt, request: Request) -> JSONResponse:
    session = await session_of(request, rt)
    if session is not None and not csrf_ok(request, session):
        raise forbidden(f"CSRF token was invalid or missing: send the {CSRF_HEADER} header")
    response = JSONResponse({"success": True})
    await browser.close_session(rt, session, response)
    return response


@router.get("/csrf_token", include_in_schema=False, summary="The CSRF token of the browser session")
async def csrf_token(rt: Rt, request: Request) -> JSONResponse:
    """The signed-in session's token; before sign-in (as Quay issues one) a pre-session token, kept
    in a cookie, that the sign-in POST presents in X-CSRF-Token."""
    session = await session_of(request, rt)
    if session is not None:
        return JSONResponse({"csrf_token": session.csrf_token, "header": CSRF_HEADER})
    token = browser.pre_session_token(request)
    fresh = token is None
    token = token or browser.new_pre_session_token()
    response = JSONResponse({"csrf_token": token, "header": CSRF_HEADER})
    if fresh:
        response.set_cookie(
            browser.PRE_SESSION_COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="lax",
            secure=browser.cookie_secure(rt.settings),
        )
    response.headers["Cache-Control"] = "no-store"
    return response

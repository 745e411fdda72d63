"""The browser session, shared by /api/v1 (Quay's JavaScript calls) and the web UI.

The cookie holds lookup + secret (only a hash is stored, core/sessions.py). Every change made
with the cookie must also present the session's CSRF token, so that another site cannot make a
signed-in browser act.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import HTTPConnection
from starlette.responses import Response

from wharf.auth import permissions
from wharf.auth.context import AuthRuntime
from wharf.auth.identity import Identity
from wharf.config import Settings
from wharf.core import accounts, sessions
from wharf.core.clock import now_ms
from wharf.core.sessions import SessionRecord

SESSION_COOKIE = "wharf_session"
PRE_SESSION_COOKIE = "wharf_csrf"
"""Before sign-in, the CSRF token lives in this cookie (double submit): the web UI's sign-in form
and Quay's web client (GET /csrf_token, then POST /api/v1/signin with X-CSRF-Token) present it."""
_PRE_SESSION_BYTES = 32
FRESH_LOGIN_S = 600
"""A login older than this types the password again before a dangerous action (Quay's
FRESH_LOGIN_TIMEOUT, 10 minutes): deleting an account, an organization or a repository, and the
superuser's panel."""
_PRE_SESSION_LENGTH = len(secrets.token_urlsafe(_PRE_SESSION_BYTES))


def pre_session_token(conn: HTTPConnection) -> str | None:
    """The pre-session CSRF token the caller's cookie holds, if it is well-formed."""
    token = conn.cookies.get(PRE_SESSION_COOKIE) or ""
    return token if len(token) == _PRE_SESSION_LENGTH else None


def new_pre_session_token() -> str:
    return secrets.token_urlsafe(_PRE_SESSION_BYTES)


def pre_session_matches(conn: HTTPConnection, presented: str | None) -> bool:
    expected = pre_session_token(conn)
    return (
        expected is not None
        and presented is not None
        and hmac.compare_digest(presented.encode(), expected.encode())
    )


async def current(rt: AuthRuntime, conn: HTTPConnection) -> SessionRecord | None:
    cookie = conn.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await rt.db.read(sessions.resolve, cookie)


def login_is_fresh(session: SessionRecord, window_s: int = FRESH_LOGIN_S) -> bool:
    """The password was entered within `window_s` (at sign-in, or again to confirm)."""
    return now_ms() - session.login_ms <= window_s * 1000


def csrf_matches(session: SessionRecord, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), session.csrf_token.encode())


def identity_of(rt: AuthRuntime, session: SessionRecord) -> Identity:
    account = session.account
    superuser = permissions.is_configured_superuser(rt.settings, account)
    return permissions.with_powers(rt.settings, Identity("user", account.id, account.name, superuser))


def cookie_secure(settings: Settings) -> bool:
    return settings.SESSION_COOKIE_SECURE or settings.PREFERRED_URL_SCHEME == "https"


async def open_session(rt: AuthRuntime, account_id: int, response: Response) -> str:
    """Start a session after a password login: sets the cookie on `response`, returns the CSRF token."""
    account = await rt.db.read(accounts.get_by_id, account_id)
    assert account is not None
    lifetime_s = rt.settings.PERMANENT_SESSION_LIFETIME
    # Sessions are kept in read-only mode: without them nobody could sign in to read (docs/deploy.md).
    cookie, csrf = await rt.db.write_despite_read_only(sessions.create, account, lifetime_s * 1000)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=lifetime_s,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(rt.settings),
    )
    return csrf


async def close_session(rt: AuthRuntime, session: SessionRecord | None, response: Response) -> None:
    if session is not None:
        await rt.db.write_despite_read_only(sessions.end, session.id)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(rt.settings)
    )


EXTERNAL_LOGIN_COOKIE = "wharf_external_login"
"""Binds a login under way at an external provider to the browser that started it
(core/external_login_states.py); only /oauth2/ reads it."""


def set_external_login_cookie(settings: Settings, response: Response, value: str, max_age_s: int) -> None:
    # Lax: the provider's redirect back is a top-level GET, which carries it.
    response.set_cookie(
        EXTERNAL_LOGIN_COOKIE,
        value,
        max_age=max_age_s,
        path="/oauth2/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(settings),
    )

"""Who is looking at a page, and the forms they send.

Pages see a `Visitor`: the identity the permission resolver works with, plus the session it came
from. Every form carries a CSRF token in `_csrf_token`: the session's own token once signed in;
before that (the sign-in form) a random token that must match the `wharf_csrf` cookie, so that
another site cannot sign a browser into an account of its choosing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request

from wharf.auth import address, browser, credentials
from wharf.auth.identity import ANONYMOUS, Identity
from wharf.core import audit, sessions
from wharf.core.sessions import SessionRecord
from wharf.runtime import Runtime
from wharf.web.errors import WebError
from wharf.web.forms import FormError

PRE_SESSION_COOKIE = browser.PRE_SESSION_COOKIE
FRESH_LOGIN_S = browser.FRESH_LOGIN_S
MAX_FORM_BYTES = 512 * 1024
"""Large enough for a 256 KiB description written in any script (UTF-8, percent-encoded)."""


@dataclass(frozen=True, slots=True)
class Visitor:
    identity: Identity
    session: SessionRecord | None
    csrf_token: str
    """Put in every form; checked by `read_form`."""

    @property
    def signed_in(self) -> bool:
        return self.session is not None

    @property
    def name(self) -> str | None:
        return self.identity.name

    @property
    def actor(self) -> audit.Actor:
        """The audit log's view of the visitor."""
        who = self.identity
        return audit.Actor(who.account_id, who.name, who.ip, kind=who.kind, origin=who.origin)

    @property
    def needs_password(self) -> bool:
        """Dangerous forms must ask for the password (see `confirm_fresh_login`)."""
        return not self.fresh(FRESH_LOGIN_S)

    def fresh(self, window_s: int) -> bool:
        """The password was entered within `window_s`: dangerous actions ask for it again otherwise."""
        return self.session is not None and browser.login_is_fresh(self.session, window_s)


def client_ip(rt: Runtime, request: Request) -> str | None:
    """The visitor's address (X-Forwarded-For only from TRUSTED_PROXIES: auth/address.py)."""
    return address.client_address(request, rt.settings.TRUSTED_PROXIES)


async def visitor(rt: Runtime, request: Request) -> Visitor:
    """The request's visitor, looked up once and kept in the scope for the templates."""
    found: Visitor | None = request.scope.get("wharf.visitor")
    if found is not None:
        return found
    session = await browser.current(rt, request)
    origin = rt.settings.public_origin
    if session is not None:
        who = replace(browser.identity_of(rt, session), ip=client_ip(rt, request), origin=origin)
        found = Visitor(who, session, session.csrf_token)
    else:
        token = browser.pre_session_token(request) or ""
        if not token:
            token = browser.new_pre_session_token()
            request.scope["wharf.set_pre_session"] = token
        found = Visitor(replace(ANONYMOUS, ip=client_ip(rt, request), origin=origin), None, token)
    request.scope["wharf.visitor"] = found
    return found


async def signed_in(rt: Runtime, request: Request) -> Visitor:
    """The visitor, who must be signed in: others are sent to the sign-in page (web/errors.py)."""
    v = await visitor(rt, request)
    if not v.signed_in:
        raise WebError.sign_in(request)
    return v


async def read_form(rt: Runtime, request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token is checked. A field given twice keeps its last value;
    `read_form_lists` keeps them all. The form stays in the scope: a refused form shows its page
    again with what was typed (web/forms.py)."""
    return {k: v[-1] for k, v in (await read_form_lists(rt, request)).items()}


async def read_form_lists(rt: Runtime, request: Request) -> dict[str, list[str]]:
    v = await visitor(rt, request)
    fields = await _parse_form(request)
    _check_csrf(v, request, (fields.pop("_csrf_token", None) or [""])[-1])
    request.scope["wharf.form"] = {k: v[-1] for k, v in fields.items()}
    request.scope["wharf.form_lists"] = fields
    return fields


def _check_csrf(v: Visitor, request: Request, presented: str) -> None:
    expected = v.csrf_token if v.signed_in else request.cookies.get(PRE_SESSION_COOKIE, "")
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise WebError(
            403,
            "This form has expired",
            "The page was open too long, or the form came from another site. Reload the page and "
            "send the form again.",
        )


async def read_upload_form(
    rt: Runtime, request: Request, max_bytes: int
) -> tuple[dict[str, str], dict[str, UploadFile]]:
    """A multipart form with files (a build's Dockerfile or archive), once its CSRF token is
    checked: its text fields (the last value of each) and its files by field name. Starlette
    spools the files to disk; `max_bytes` bounds the whole body when the browser says its length
    (the services check the file's own limit again as they store it)."""
    v = await visitor(rt, request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
        raise WebError(415, "Unexpected form encoding", "Send the form from the page itself.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise WebError(413, "The file is too large", f"Upload at most {max_bytes} bytes.")
    try:
        form = await request.form(max_files=2, max_fields=50, max_part_size=MAX_FORM_BYTES)
    except Exception:  # Starlette's MultiPartException and malformed bodies alike
        raise WebError(400, "The form could not be read", "Send the form from the page again.") from None
    fields: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[key] = value
        else:
            fields[key] = value
    _check_csrf(v, request, fields.pop("_csrf_token", ""))
    request.scope["wharf.form"] = fields
    request.scope["wharf.form_lists"] = {k: [x] for k, x in fields.items()}
    return fields, files


async def read_form_of_script(request: Request) -> dict[str, str]:
    """A form sent by a script that authenticates each request itself (HTTP Basic), so there is no
    session whose CSRF token it could carry. Never for a request that a session cookie authorizes."""
    return {k: v[-1] for k, v in (await _parse_form(request)).items()}


async def _parse_form(request: Request) -> dict[str, list[str]]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise WebError(413, "The form is too large", "Shorten what you entered and send it again.")
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
        "application/x-www-form-urlencoded",
        "",
    ):
        raise WebError(415, "Unexpected form encoding", "Send the form from the page itself.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        raise WebError(400, "The form could not be read", "Send the form from the page again.") from None
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    return fields


async def confirm_fresh_login(
    rt: Runtime, request: Request, v: Visitor, form: dict[str, str], page: str
) -> None:
    """A stale login proves itself again before a dangerous action (the form's `password`); a
    fresh one need not. The check is a login: wrong passwords are throttled as at sign-in. A
    missing or wrong password is said next to the field on `page`, the form's page (web/forms.py)."""
    if not v.needs_password:
        return
    password = form.get("password", "")
    if not password:
        raise FormError(
            page,
            password=f"You signed in more than {FRESH_LOGIN_S // 60} minutes ago: type your password "
            "to confirm it is you. Nothing was changed.",
        )
    assert v.name is not None and v.session is not None
    try:
        identity = await credentials.basic_login(
            rt, v.name, password, client_ip(rt, request), audit_success=False
        )
    except credentials.LoginThrottled as e:
        raise FormError(
            page,
            password=f"Too many wrong passwords: wait {e.retry_after_s} seconds, then try again.",
            status=429,
        ) from None
    if identity is None or identity.account_id != v.identity.account_id:
        raise FormError(
            page,
            password="That password is wrong: type the one you sign in with. Nothing was changed.",
        )
    await rt.db.write_despite_read_only(sessions.refresh_login, v.session.id)

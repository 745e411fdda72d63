"""The consent page of OAuth applications: /oauth/authorize shows what an application asks for,
/oauth/authorizeapp answers it (Quay's paths; app.py routes both here, and the rest of /oauth/ to
the API, whose /oauth/access_token trades codes for tokens).

Implicit grant: the token comes back in the redirect's fragment. Code grant: a single-use code
comes back in the query. A visitor who is not signed in goes through /signin and comes back.
Quay's "direct OAuth": for client ids in DIRECT_OAUTH_CLIENTID_WHITELIST, a script may approve
with HTTP Basic credentials instead of a browser session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wharf.auth import credentials
from wharf.auth.identity import Identity
from wharf.core import applications, audit, scopes
from wharf.core.applications import ApplicationRecord
from wharf.runtime import Runtime
from wharf.services import oauth_consent
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.session import client_ip, read_form, read_form_of_script, visitor

# Stricter than the other pages: the address carries the application's state, and nothing of it
# may be cached or leak to the sites the page links to.
_HEADERS = {"referrer-policy": "no-referrer", "cache-control": "no-store"}
_FORM_ACTION = "form-action 'self'"
assert _FORM_ACTION in render.SECURITY_HEADERS["content-security-policy"]
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_NEVER_SCHEMES = frozenset({"javascript", "data", "vbscript", "blob", "filesystem"})


def _redirect(uri: str, params: dict[str, str], fragment: bool) -> Response:
    sep = "#" if fragment else ("&" if "?" in uri else "?")
    return RedirectResponse(uri + sep + urlencode(params), status_code=302, headers=_HEADERS)


def _csp_sending_forms_to(redirect_uri: str) -> str:
    """The page's CSP, letting its form lead to the application: browsers apply form-action to
    the redirect that follows the POST as well."""
    csp = render.SECURITY_HEADERS["content-security-policy"]
    parts = urlsplit(redirect_uri)
    if not _SCHEME.fullmatch(parts.scheme) or parts.scheme.lower() in _NEVER_SCHEMES:
        return csp
    if parts.scheme.lower() in ("http", "https"):
        if not _HOST.fullmatch(parts.netloc):
            return csp
        source = f"{parts.scheme.lower()}://{parts.netloc}"
    else:  # an application's own scheme (myapp:/callback)
        source = f"{parts.scheme.lower()}:"
    return csp.replace(_FORM_ACTION, f"{_FORM_ACTION} {source}")


@dataclass(frozen=True, slots=True)
class _Request:
    """The parameters of an authorization request, checked against the application."""

    app: ApplicationRecord
    redirect_uri: str
    scope: str
    response_type: str
    state: str

    def answer(self, params: dict[str, str]) -> Response:
        if self.state:
            params = {**params, "state": self.state}
        return _redirect(self.redirect_uri, params, self.response_type == "token")

    def error(self, code: str, description: str) -> Response:
        return self.answer({"error": code, "error_description": description})

    def fields(self) -> dict[str, str]:
        """What the consent form sends back to /oauth/authorizeapp."""
        return {
            "client_id": self.app.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "response_type": self.response_type,
            "state": self.state,
        }

    def granted(self) -> frozenset[str] | Response:
        """The scopes asked for, or the OAuth error the application gets back."""
        if self.response_type not in ("token", "code"):
            return self.error("unsupported_response_type", "response_type must be token or code")
        try:
            granted = scopes.parse(self.scope)
        except scopes.ScopeError as e:
            return self.error("invalid_scope", str(e))
        return granted or self.error("invalid_scope", "ask for at least one scope")


async def _authorization_request(rt: Runtime, params: dict[str, str]) -> _Request:
    """The checked request. With an unknown client or a redirect URI the application did not
    register, nothing may be redirected anywhere: those are pages that say what to do."""
    app = await rt.db.read(applications.get, params.get("client_id", ""))
    if app is None:
        raise WebError(
            404,
            "Unknown application",
            "No application has this client_id. Go back to the application and start again; if this "
            "happens again, tell its developer that the link it sends you to is wrong.",
        )
    redirect_uri = params.get("redirect_uri") or app.redirect_uri
    if not applications.redirect_allowed(app, redirect_uri):
        raise WebError(
            400,
            "Invalid redirect URI",
            f"{app.name} asked to send you to an address it has not registered, so Wharf will not "
            "send you there. Tell the application's developer to use the redirect URI registered for "
            "it (an organization administrator can see it on the application's page).",
        )
    return _Request(
        app,
        redirect_uri,
        params.get("scope", ""),
        params.get("response_type", "token"),
        params.get("state", ""),
    )


def _homepage(app: ApplicationRecord) -> str | None:
    """The application's home page, when it is a web address that is safe to link to."""
    uri = app.application_uri
    return uri if urlsplit(uri).scheme.lower() in ("http", "https") else None


class _Refused(WebError):
    """A refused sign-in with Basic credentials, with the headers a script needs (Retry-After)."""

    def __init__(self, status: int, title: str, advice: str, headers: dict[str, str]) -> None:
        super().__init__(status, title, advice)
        self.headers = headers


async def _script_approver(
    rt: Runtime, request: Request, req: _Request, username: str, password: str
) -> Identity:
    if req.app.client_id not in rt.settings.DIRECT_OAUTH_CLIENTID_WHITELIST:
        raise WebError(
            403,
            "Not allowed",
            "This application may not be authorized with Basic credentials. Open its authorization "
            "link in a browser and sign in there instead.",
        )
    try:
        identity = await credentials.basic_login(rt, username, password, client_ip(rt, request))
    except credentials.LoginThrottled as e:
        raise _Refused(
            429,
            "Sign-in failed",
            f"{e}. Wait {e.retry_after_s} seconds, then try again.",
            {"retry-after": str(e.retry_after_s)},
        ) from None
    if identity is None or identity.kind != "user":
        raise _Refused(403, "Sign-in failed", "Invalid username or password. Check them, then try again.", {})
    return identity


async def _error_page(request: Request, error: WebError) -> Response:
    await visitor(access.runtime(request), request)
    headers = {**_HEADERS, **(error.headers if isinstance(error, _Refused) else {})}
    return render.page(request, "error.html", status=error.status, error=error, headers=headers)


async def consent(request: Request) -> Response:
    rt = access.runtime(request)
    try:
        req = await _authorization_request(rt, dict(request.query_params))
    except WebError as e:
        return await _error_page(request, e)
    granted = req.granted()
    if isinstance(granted, Response):
        return granted
    v = await visitor(rt, request)
    if not v.signed_in:
        sign_in = WebError.sign_in(request).redirect
        assert sign_in is not None
        return RedirectResponse(sign_in, status_code=302, headers=_HEADERS)
    return render.page(
        request,
        "oauth/authorize.html",
        headers={**_HEADERS, "content-security-policy": _csp_sending_forms_to(req.redirect_uri)},
        app=req.app,
        homepage=_homepage(req.app),
        scopes=[(s, about) for s, about in scopes.DESCRIPTIONS.items() if s in granted],
        redirect_uri=req.redirect_uri,
        fields=req.fields(),
    )


async def answer(request: Request) -> Response:
    """Approve (a code or a token for the application) or cancel (`cancel` in the form: the
    application gets error=access_denied, RFC 6749 4.1.2.1)."""
    try:
        return await _answer(request)
    except WebError as e:
        return await _error_page(request, e)


async def _answer(request: Request) -> Response:
    rt = access.runtime(request)
    basic = credentials.parse_basic(request.headers.get("authorization", ""))
    approver: Identity | None = None
    if basic is not None:
        form = await read_form_of_script(request)
    else:
        v = await visitor(rt, request)
        if not v.signed_in:
            raise WebError(
                401, "Sign in first", "Sign in, then open the application's authorization link again."
            )
        form = await read_form(rt, request)
        approver = v.identity
    req = await _authorization_request(rt, form)
    granted = req.granted()
    if isinstance(granted, Response):
        return granted
    if approver is None:
        assert basic is not None
        approver = await _script_approver(rt, request, req, *basic)
    if "cancel" in form:
        return req.error("access_denied", "the user denied the request")
    assert approver.account_id is not None
    if req.response_type == "code":
        code = await oauth_consent.issue_code(rt, req.app, approver.account_id, granted, req.redirect_uri)
        return req.answer({"code": code})
    actor = audit.Actor(approver.account_id, approver.name, client_ip(rt, request))
    token = await oauth_consent.grant_token(rt, req.app, approver.account_id, granted, actor)
    return req.answer(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": str(applications.GRANTED_TOKEN_LIFETIME_S),
            "scope": " ".join(sorted(granted)),
        }
    )


ROUTES: list[BaseRoute] = [
    Route("/oauth/authorize", consent, methods=["GET"]),
    Route("/oauth/authorizeapp", answer, methods=["POST"]),
]

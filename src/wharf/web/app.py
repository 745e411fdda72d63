"""The web UI: server-rendered pages on the same ASGI app, over core and the permission resolver.

Pages live in web/pages/, one module per page, each with module-level handlers and a route table
`ROUTES`; a handler takes the runtime from the request (web/access.py, which also resolves what
the address names with the role the page needs). Templates are in web/templates/, the one
stylesheet and the little JavaScript in web/static/. The pages (and Jinja2, Markdown) are imported
on the first request for one: a process that only serves /v2, /health and /metrics never loads
them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wharf.auth.browser import cookie_secure
from wharf.core.errors import DomainError
from wharf.lazy import BuiltOnFirstUse
from wharf.runtime import Runtime
from wharf.web import chrome
from wharf.web.errors import WebError, from_domain, way_back
from wharf.web.forms import Entered, FormError, kept
from wharf.web.headers import SECURITY_HEADERS
from wharf.web.session import PRE_SESSION_COOKIE, visitor
from wharf.web.signin_paths import CONFIRM_USERNAME, confirm_username_address

_STATIC = Path(__file__).parent / "static"

_SECURITY_HEADERS = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class _PageChrome:
    """Loads the banner messages and the bell (web/chrome.py) before a page is rendered, and sends
    a visitor whose username awaits confirmation to /updateuser instead, as Quay's web client does
    on every page while the account has the confirm_username prompt."""

    def __init__(self, app: ASGIApp, rt: Runtime, skip: tuple[str, ...]) -> None:
        self.app = app
        self.rt = rt
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if not path.startswith(self.skip):
                request = Request(scope)
                loaded = await chrome.load(self.rt, request)
                if loaded.name_to_confirm and not path.startswith(_UNGATED):
                    target = path + (f"?{request.url.query}" if request.url.query else "")
                    gate = RedirectResponse(confirm_username_address(target), status_code=303)
                    await gate(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_UNGATED = (CONFIRM_USERNAME, "/signout", "/oauth2/")
"""Pages a visitor who has not confirmed their username yet still reaches: the confirmation itself,
signing out, and the external sign-in callbacks (which send them to it)."""


class _PageHeaders:
    """Security headers on every answer of the web app, and the pre-session CSRF cookie when a
    page handed out a new one."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _SECURITY_HEADERS if k not in present]
                token = scope.get("wharf.set_pre_session")
                if token:
                    cookie = f"{PRE_SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"
                    headers.append((b"set-cookie", (cookie + ("; Secure" if self.secure else "")).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


ExceptionHandlers = dict[Any, Callable[[Request, Exception], Awaitable[Response]]]


def build_web(rt: Runtime, service_routes: list[BaseRoute]) -> ASGIApp:
    """The UI pages next to `service_routes` (health, metrics... which the UI does not style).

    A service route is answered at once; everything else goes to the pages, built on the first
    request for one. The pages' application holds the service routes too, so that a wrong method
    on one is answered as it always was (a 405 page)."""
    handlers = _error_handlers(rt)
    pages = BuiltOnFirstUse(partial(_pages, rt, service_routes, handlers))
    app = Starlette(routes=[*service_routes, Mount("", app=pages)], exception_handlers=handlers)
    return _PageHeaders(app, cookie_secure(rt.settings))


def _error_handlers(rt: Runtime) -> ExceptionHandlers:
    async def web_error(request: Request, exc: Exception) -> Response:
        from wharf.web import render

        assert isinstance(exc, WebError)
        if exc.redirect is not None:
            return RedirectResponse(exc.redirect, status_code=303)
        await _page_context(rt, request)
        return render.page(request, "error.html", status=exc.status, error=exc, back=way_back(request))

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return await web_error(request, from_domain(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return await web_error(request, WebError.not_found("This page"))
        if exc.status_code == 405:
            return await web_error(request, WebError(405, "Not here", "Use the page's own links and forms."))
        return await web_error(request, WebError(exc.status_code, "That did not work", str(exc.detail)))

    return {WebError: web_error, DomainError: domain_error, HTTPException: http_error}


def _server_fault_handler(rt: Runtime) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A fault in a page still answers with a page: the header, the banner and a way back
    (Starlette logs the exception and raises it on after this answer is sent)."""

    async def server_fault(request: Request, _exc: Exception) -> Response:
        from wharf.web import render

        with contextlib.suppress(Exception):  # the fault may be the database itself
            await _page_context(rt, request)
        try:
            return render.page(
                request, "error.html", status=500, error=WebError.server_fault(), back=way_back(request)
            )
        except Exception:  # the page itself failed: say so in plain text
            return PlainTextResponse(
                "Internal Server Error: the registry could not render this page.", status_code=500
            )

    return server_fault


async def _page_context(rt: Runtime, request: Request) -> None:
    """The visitor and the page chrome for an error page: a form's answer (POST) has no chrome
    loaded yet, and the error page keeps the banner."""
    await visitor(rt, request)
    if "wharf.chrome" not in request.scope:
        await chrome.load(rt, request)


def _pages(rt: Runtime, service_routes: list[BaseRoute], handlers: ExceptionHandlers) -> ASGIApp:
    from wharf.web import email_confirmation
    from wharf.web.pages import (
        account,
        applications,
        build_triggers,
        builds,
        confirm_username,
        default_permissions,
        external_login,
        home,
        inbox,
        manifest,
        manifest_security,
        oauth,
        org_mirror,
        organization,
        proxy_cache,
        quotas,
        recovery,
        repository,
        repository_settings,
        retention,
        robots,
        signin,
        superuser,
        team_invites,
        teams,
        user,
    )

    confirm_email = Route("/authrepoemail", partial(email_confirmation.confirm_email, rt), methods=["GET"])
    routes: list[BaseRoute] = [
        *service_routes,
        confirm_email,
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
        *signin.ROUTES,
        *confirm_username.ROUTES,
        *external_login.ROUTES,
        *recovery.ROUTES,
        *account.ROUTES,
        *home.ROUTES,
        # before repository: its /repository/{repository:path} would match a manifest's address
        *manifest_security.ROUTES,
        *manifest.ROUTES,
        *builds.ROUTES,  # before repository, for the same reason
        *build_triggers.ROUTES,  # before repository, for the same reason
        *repository.ROUTES,
        *organization.ROUTES,
        *proxy_cache.ROUTES,
        *org_mirror.ROUTES,
        *teams.ROUTES,
        *team_invites.ROUTES,
        *default_permissions.ROUTES,
        *applications.ROUTES,
        *robots.ROUTES,
        *user.ROUTES,
        *repository_settings.ROUTES,
        *retention.ROUTES,
        *inbox.ROUTES,
        *superuser.ROUTES,
        *quotas.ROUTES,
        *oauth.ROUTES,
    ]
    app = Starlette(routes=routes, exception_handlers={**handlers, Exception: _server_fault_handler(rt)})
    app.state.runtime = rt  # the handlers' `access.runtime(request)`

    # Service routes (health, metrics, downloads), the e-mail confirmation and static files get no
    # page chrome.
    plain = [*service_routes, confirm_email]
    skip = ("/static/", *(r.path.split("{")[0] for r in plain if isinstance(r, Route)))
    pages = _PageChrome(app, rt, skip)
    app.add_exception_handler(FormError, _same_page_handler(pages))
    return pages


_FORM_PAGE_CSP = (
    SECURITY_HEADERS["content-security-policy"].replace("base-uri 'none'", "base-uri 'self'").encode()
)
"""The page answering a refused form is served at the form's address (a POST's), so it names its
own address in a <base> element for its relative links (`?tab=info`); the policy lets it."""

_REQUEST_KEYS = ("type", "asgi", "http_version", "scheme", "server", "client", "root_path", "state")


class _SamePage(Response):
    """The answer to a refused form: the page it came from, as a GET of that page renders it, with
    the form's errors and typed values in the scope (`render.page` hands them to the templates)
    and the refusal's status."""

    def __init__(self, app: ASGIApp, scope: Scope, status: int) -> None:
        self.app = app
        self.page_scope = scope
        self.status_code = status
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def with_status(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [*message.get("headers", []), (b"content-security-policy", _FORM_PAGE_CSP)]
                message = {**message, "status": self.status_code, "headers": headers}
            await send(message)

        await self.app(self.page_scope, no_body, with_status)


def _same_page_handler(pages: ASGIApp) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def same_page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormError)
        target = urlsplit(exc.page)
        headers = [
            (k, v)
            for k, v in request.scope["headers"]
            if k.lower() not in (b"content-type", b"content-length")
        ]
        scope: dict[str, Any] = {k: request.scope[k] for k in _REQUEST_KEYS if k in request.scope}
        scope.update(
            method="GET",
            path=target.path,
            raw_path=target.path.encode(),
            query_string=target.query.encode(),
            headers=headers,
        )
        scope["wharf.visitor"] = request.scope.get("wharf.visitor")
        posted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        scope["wharf.entered"] = Entered(
            exc.action or request.url.path,
            kept(request.scope.get("wharf.form", {})),
            exc.errors,
            kept(request.scope.get("wharf.form_lists", {})),
            posted,
        )
        return _SamePage(pages, scope, exc.status)

    return same_page

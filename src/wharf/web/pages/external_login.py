"""Sign-in with an OpenID Connect provider: /oauth2/{service}/start sends the browser there,
/oauth2/{service}/callback (Quay's path: the redirect URI to register) brings it back signed in,
or with the provider attached to the account that started it (services/external_login.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wharf.auth import browser
from wharf.core.external_login_states import ATTACH, LIFETIME_MS, LOGIN
from wharf.services import external_login
from wharf.services.external_login import BROWSER_COOKIE, ExternalLoginFailed, LastWayIn
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.pages.signin import after_sign_in
from wharf.web.session import Visitor, client_ip, read_form, visitor
from wharf.web.signin_paths import local_path


def _failed(request: Request, v: Visitor, message: str, status: int = 403) -> Response:
    """A failed sign-in shows the sign-in page with the reason; a failed attach, an error page."""
    if v.signed_in:
        raise WebError(status, "The provider could not be linked", message[:1].upper() + message[1:] + ".")
    rt = access.runtime(request)
    return render.page(
        request,
        "signin.html",
        status=status,
        redirect_url="/",
        username="",
        error=message[:1].upper() + message[1:] + ".",
        providers=external_login.providers(rt),
    )


async def start(request: Request) -> Response:
    rt = access.runtime(request)
    form = await read_form(rt, request)
    v = await visitor(rt, request)
    service_id = request.path_params["service"]
    intent = ATTACH if form.get("intent") == ATTACH else LOGIN
    if intent == ATTACH and not v.signed_in:
        raise WebError.sign_in(request)
    if intent == LOGIN and v.signed_in:
        return RedirectResponse(local_path(form.get("redirect_url")), status_code=303)
    default = f"/user/{v.name}?tab=settings" if intent == ATTACH else "/"
    try:
        begun = await external_login.begin(
            rt,
            service_id,
            intent=intent,
            account_id=v.identity.account_id if intent == ATTACH else None,
            redirect=local_path(form.get("redirect_url") or default),
            browser=request.cookies.get(BROWSER_COOKIE),
        )
    except ExternalLoginFailed as e:
        return _failed(request, v, str(e), 400)
    service = external_login.provider(rt, service_id)
    assert service is not None
    response = render.page(
        request,
        "external_login_redirect.html",
        auth_url=begun.auth_url,
        service_name=service.name,
        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"},
    )
    browser.set_external_login_cookie(rt.settings, response, begun.browser, LIFETIME_MS // 1000)
    return response


async def callback(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    params = request.query_params
    service = external_login.provider(rt, request.path_params["service"])
    if service is None:
        raise WebError.not_found("login provider")
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        if params.get("state"):
            await external_login.abandon(
                rt, service.id, state=params["state"], browser=request.cookies.get(BROWSER_COOKIE)
            )
        return _failed(request, v, f"{service.name} did not sign you in: {detail[:300]}")
    code, state = params.get("code", ""), params.get("state", "")
    if not code or not state:
        return _failed(request, v, f"{service.name} sent you back without a code or state: start again", 400)
    try:
        done = await external_login.complete(
            rt,
            service.id,
            code=code,
            state=state,
            browser=request.cookies.get(BROWSER_COOKIE),
            ip=client_ip(rt, request),
        )
    except ExternalLoginFailed as e:
        return _failed(request, v, str(e))
    target = local_path(done.redirect)
    if done.intent == LOGIN:
        target = await after_sign_in(request, done.account_id, target)
    response = RedirectResponse(target, status_code=303)
    if done.intent == LOGIN:
        # A new session, even over one already open: the provider decided who this browser is.
        await browser.close_session(rt, v.session, response)
        await browser.open_session(rt, done.account_id, response)
    return response


async def detach(request: Request) -> Response:
    """The account page's Detach button (the API's detachExternalLogin)."""
    rt = access.runtime(request)
    v, account = await access.own_account(request)
    await read_form(rt, request)
    here = f"/user/{account.name}?tab=settings"
    service_id = request.path_params["service"]
    try:
        detached = await external_login.detach(rt, account.id, service_id, v.actor)
    except LastWayIn as e:
        raise WebError(400, "This link is your only way in", str(e)[:1].upper() + str(e)[1:] + ".") from None
    if not detached:
        raise WebError.not_found("linked login")
    return render.redirect(here, "The provider is detached from your account.")


ROUTES: list[BaseRoute] = [
    Route("/user/{name:str}/externallogins/{service:str}/detach", detach, methods=["POST"]),
    Route("/oauth2/{service:str}/start", start, methods=["POST"]),
    Route("/oauth2/{service:str}/callback", callback, methods=["GET"]),
]

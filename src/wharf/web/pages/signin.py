"""/signin and /signout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wharf.auth import browser, credentials
from wharf.services import external_login
from wharf.web import access, render
from wharf.web.session import client_ip, read_form, visitor
from wharf.web.signin_paths import confirm_username_address, local_path


async def after_sign_in(request: Request, account_id: int, target: str) -> str:
    """Where a sign-in goes: to confirm the account's name first while it awaits its owner's word."""
    if await external_login.name_to_confirm(access.runtime(request), account_id):
        return confirm_username_address(target)
    return local_path(target)


async def signin_page(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    target = local_path(request.query_params.get("redirect_url"))
    if v.signed_in:
        return RedirectResponse(target, status_code=303)
    return render.page(
        request,
        "signin.html",
        redirect_url=target,
        username="",
        error=None,
        providers=external_login.providers(rt),
    )


async def signin(request: Request) -> Response:
    rt = access.runtime(request)
    form = await read_form(rt, request)
    username, password = form.get("username", "").strip(), form.get("password", "")
    target = local_path(form.get("redirect_url"))

    def refuse(message: str, status: int) -> Response:
        return render.page(
            request,
            "signin.html",
            status=status,
            redirect_url=target,
            username=username,
            error=message,
            providers=external_login.providers(rt),
        )

    if not username or not password:
        return refuse("Enter your username and password.", 400)
    try:
        identity = await credentials.basic_login(rt, username, password, client_ip(rt, request))
    except credentials.LoginThrottled as e:
        return refuse(f"Too many failed attempts. Wait {e.retry_after_s} seconds, then try again.", 429)
    if identity is None or identity.kind != "user" or identity.account_id is None:
        return refuse("The username or password is wrong.", 403)
    response = RedirectResponse(await after_sign_in(request, identity.account_id, target), status_code=303)
    await browser.open_session(rt, identity.account_id, response)
    return response


async def signout(request: Request) -> Response:
    rt = access.runtime(request)
    await read_form(rt, request)
    v = await visitor(rt, request)
    response = RedirectResponse("/signin", status_code=303)
    await browser.close_session(rt, v.session, response)
    return response


ROUTES: list[BaseRoute] = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
]

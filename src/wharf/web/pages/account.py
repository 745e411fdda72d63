"""Your own account, on /user/<you>?tab=settings: password and app-specific tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import browser, credentials
from wharf.core import accounts, apptokens
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.session import client_ip, read_form

MAX_TOKEN_DAYS = 3650


async def change_password(request: Request) -> Response:
    rt = access.runtime(request)
    v, account = await access.own_account(request)
    form = await read_form(rt, request)
    new, again = form.get("new_password", ""), form.get("new_password_again", "")
    if new != again:
        raise WebError(400, "The new passwords differ", "Type the same new password twice.")
    try:
        proven = await credentials.basic_login(
            rt, account.name, form.get("password", ""), client_ip(rt, request)
        )
    except credentials.LoginThrottled as e:
        raise WebError(
            429, "Too many wrong passwords", f"Wait {e.retry_after_s} seconds, then try again."
        ) from None
    if proven is None:
        raise WebError(403, "Your current password is wrong", "Type the password you signed in with.")
    await rt.db.write(accounts.update_user, account, password=new, actor=v.actor)
    # A new password ends every session of the account, this one too: open a new one here, so
    # that only the other browsers are signed out.
    response = render.redirect(
        f"/user/{account.name}?tab=settings", "Your password is changed; other browsers were signed out."
    )
    await browser.open_session(rt, account.id, response)
    return response


async def create_token(request: Request) -> Response:
    rt = access.runtime(request)
    v, account = await access.own_account(request)
    form = await read_form(rt, request)
    days_text = form.get("days", "").strip()
    try:
        days = int(days_text) if days_text else None
    except ValueError:
        raise WebError(
            400, "Give the lifetime in days", "A whole number of days, or empty for none."
        ) from None
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise WebError(400, "Give the lifetime in days", f"Between 1 and {MAX_TOKEN_DAYS}, or empty.")
    lifetime_ms = days * 86_400_000 if days else None
    token, secret = await rt.db.write(apptokens.create, account, form.get("title", ""), lifetime_ms, v.actor)
    # The token exists only in this answer: Wharf keeps a hash.
    return render.page(
        request,
        "account/token_created.html",
        status=201,
        token=token,
        secret=secret,
        account=account,
        registry_host=rt.settings.public_host,
    )


async def revoke_token(request: Request) -> Response:
    rt = access.runtime(request)
    v, account = await access.own_account(request)
    await read_form(rt, request)
    await rt.db.write(apptokens.revoke, account, request.path_params["uuid"], v.actor)
    return render.redirect(f"/user/{account.name}?tab=settings", "The token is revoked.")


ROUTES: list[BaseRoute] = [
    Route("/user/{name:str}/password", change_password, methods=["POST"]),
    Route("/user/{name:str}/apptokens", create_token, methods=["POST"]),
    Route("/user/{name:str}/apptokens/{uuid:str}/revoke", revoke_token, methods=["POST"]),
]

"""Your own account, on /user/<you>?tab=settings: password and app-specific tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import browser, credentials
from wharf.core import accounts, apptokens
from wharf.core.errors import InvalidInput
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.session import client_ip, read_form

MAX_TOKEN_DAYS = 3650


async def change_password(request: Request) -> Response:
    rt = access.runtime(request)
    v, account = await access.own_account(request)
    form = await read_form(rt, request)
    here = f"/user/{account.name}?tab=settings"
    if rt.settings.AUTHENTICATION_TYPE != "Database":
        raise FormError(here, new_password="Your password is the directory's: change it there.")
    new, again = form.get("new_password", ""), form.get("new_password_again", "")
    if new != again:
        raise FormError(
            here, new_password_again="This is not the new password above: type the same one twice."
        )
    try:
        accounts.check_password(new)
    except InvalidInput as e:
        raise FormError(here, new_password=f"{forms.sentence(str(e))} Choose a longer one.") from None
    try:
        proven = await credentials.basic_login(
            rt, account.name, form.get("password", ""), client_ip(rt, request)
        )
    except credentials.LoginThrottled as e:
        raise WebError(
            429, "Too many wrong passwords", f"Wait {e.retry_after_s} seconds, then try again."
        ) from None
    if proven is None:
        raise FormError(here, password="That is not your current password: type the one you sign in with.")
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
    here = f"/user/{account.name}?tab=settings"
    days_text = form.get("days", "").strip()
    lifetime = f"Give the lifetime as a whole number of days from 1 to {MAX_TOKEN_DAYS}, or leave it empty."
    try:
        days = int(days_text) if days_text else None
    except ValueError:
        raise FormError(here, days=lifetime) from None
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise FormError(here, days=lifetime)
    lifetime_ms = days * 86_400_000 if days else None
    title = form.get("title", "")
    if not 1 <= len(title.strip()) <= 255:
        raise FormError(here, title="Give the token a title of 1 to 255 characters: where it is used.")
    token, secret = await rt.db.write(apptokens.create, account, title, lifetime_ms, v.actor)
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

"""Quay's "confirm username" step (/updateuser): an account made at a first external sign-in
(LDAP, OIDC, GitHub) under another name than the user's there, because that one is not a valid
namespace name or is taken, is shown the name Wharf chose, to keep or change, before going on.
Sign-ins come here (web/pages/signin.py, external_login.py) until the user has answered."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wharf.core.federated_logins import NameConfirmed
from wharf.services import external_login
from wharf.web import access, forms, render
from wharf.web.forms import FormError
from wharf.web.session import read_form, signed_in
from wharf.web.signin_paths import CONFIRM_USERNAME as PATH
from wharf.web.signin_paths import local_path


async def page(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    target = local_path(request.query_params.get("redirect_url"))
    assert v.identity.account_id is not None
    if not await external_login.name_to_confirm(rt, v.identity.account_id):
        return RedirectResponse(target, status_code=303)
    return render.page(request, "confirm_username.html", username=v.name, redirect_url=target)


async def confirm(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    target = local_path(form.get("redirect_url"))
    here = f"{PATH}?redirect_url={quote(target, safe='')}"
    name = form.get("username", "").strip()
    if not name:
        raise FormError(here, username="Enter the name to keep.")
    assert v.identity.account_id is not None
    try:
        with forms.refusing(here, {"name": "username"}, {"username": forms.ACCOUNT_SYNTAX}):
            account = await external_login.confirm_username(rt, v.identity.account_id, name, v.actor)
    except NameConfirmed:
        return RedirectResponse(target, status_code=303)  # answered already (another tab)
    return render.redirect(target, f"Your username is {account.name}.")


ROUTES: list[BaseRoute] = [
    Route(PATH, page, methods=["GET"]),
    Route(PATH, confirm, methods=["POST"]),
]

"""/user/<name>?tab=repos|robots|settings: a user's namespace. Everyone sees the repositories they
may read there; only the user sees and changes its robots and settings.

The settings form (e-mail, time-machine window) is the same for organizations and users, so both
addresses are served here: /organization/<org>/settings and /user/<name>/settings.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import accounts, apptokens
from wharf.services import external_login
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.pages import _namespace, _repo_list, retention, robots
from wharf.web.pages import logs as logs_view
from wharf.web.session import read_form, signed_in, visitor

TABS = ("repos", "robots", "settings", "logs")


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    ns = await access.user(request, v, request.path_params["name"])
    tab = request.query_params.get("tab", "repos")
    if tab not in TABS:
        tab = "repos"
    if tab != "repos":
        if not v.signed_in:
            raise WebError.sign_in(request)
        access.require_admin(ns)
    if tab == "robots":
        return await _namespace.tab_page(request, ns, tab, await robots.listing(request, rt, ns))

    found: dict[str, Any] = {}
    if tab == "repos":
        listed = await _repo_list.read(request, v, action=ns.base, namespace=ns.name, keep={"tab": "repos"})
        found = {"lst": listed, "can_create": ns.can_admin}
    elif tab == "settings":
        found = {
            "app_tokens": await rt.db.read(apptokens.list_for, ns.account),
            "directory_passwords": rt.settings.AUTHENTICATION_TYPE != "Database",
            "linked_logins": await external_login.linked(rt, ns.account.id),
            "login_providers": external_login.providers(rt),
            "has_password": await rt.db.read(accounts.has_password_set, ns.account.id),
        }
        found.update(await retention.namespace_context(rt, ns))
    return await _namespace.tab_page(request, ns, tab, found)


async def save_settings(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    ns = await access.admined_namespace(request, v)
    form = await read_form(rt, request)
    here = f"{ns.base}?tab=settings"
    email = form.get("email", "").strip()
    if len(email) > 255:
        raise FormError(here, email="That address is longer than 255 characters: use a shorter one.")
    window = form.get("tag_expiration_s", "")
    try:
        seconds = int(window) if window else None
    except ValueError:
        raise FormError(here, tag_expiration_s="Pick one of the listed durations.") from None
    with forms.refusing(here, advice={"email": "Fix it, or leave it empty."}):
        await rt.db.write(
            accounts.change_settings,
            ns.account,
            email=email,
            tag_expiration_s=seconds,
            options=rt.settings.TAG_EXPIRATION_OPTIONS,
            actor=v.actor,
        )
    return render.redirect(f"{ns.base}?tab=settings", "Saved the settings.")


async def export_logs(request: Request) -> Response:
    """Usage-log exports of an organization or of a user, by its admins (or the user)."""
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    ns = await access.admined_namespace(request, v)
    return await logs_view.start_export(
        rt, request, v, ns.log_scope, (ns.name, None), form, f"{ns.base}?tab=logs"
    )


ROUTES: list[BaseRoute] = [
    Route("/organization/{ns:str}/logs/export", export_logs, methods=["POST"]),
    Route("/user/{ns:str}/logs/export", export_logs, methods=["POST"]),
    Route("/user/{name:str}", show, methods=["GET"]),
    Route("/organization/{ns:str}/settings", save_settings, methods=["POST"]),
    Route("/user/{ns:str}/settings", save_settings, methods=["POST"]),
]

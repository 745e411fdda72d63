"""/superuser: users, organizations, global messages, usage logs, the security scanner's state and
repository mirroring's health, for superusers only."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import accounts, global_messages, logs, mirror_health, orgs
from wharf.core.accounts import AccountRecord
from wharf.runtime import Runtime
from wharf.services import accounts as account_service
from wharf.services import mirroring, secscan_views
from wharf.services import superuser as superuser_service
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.pages import logs as logs_view
from wharf.web.pages import quotas as quota_pages
from wharf.web.session import confirm_fresh_login, read_form

TABS = ("users", "organizations", "quotas", "messages", "logs", "security", "mirroring")


def tab_page(request: Request, tab: str, status: int = 200, **found: Any) -> Response:
    settings = access.runtime(request).settings
    return render.page(
        request,
        f"superuser/{tab}.html",
        status=status,
        tab=tab,
        is_configured_superuser=lambda a: permissions.is_configured_superuser(settings, a),
        directory_users=settings.AUTHENTICATION_TYPE != "Database",
        mirror_on=settings.FEATURE_REPO_MIRROR,
        **found,
    )


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    await access.superuser(request)
    tab = request.query_params.get("tab", "users")
    if tab not in TABS:
        tab = "users"

    if tab == "logs":
        found = await logs_view.view(
            rt, request, logs.Scope(), base="/superuser?tab=logs", export_action=None
        )
        return tab_page(request, tab, logs=found)

    if tab == "security":
        return tab_page(request, tab, scanner=await secscan_views.scanner_state(rt))
    if tab == "mirroring":
        # getSuperUserRepositoryMirrorHealth's summary: counts, no repository named (as Quay's)
        on = rt.settings.FEATURE_REPO_MIRROR
        query = mirror_health.Query(name_repositories=False)
        return tab_page(request, tab, health=await mirroring.health(rt, query) if on else None)
    if tab == "users":
        return tab_page(request, tab, created=None, users=await rt.db.read(accounts.list_users))
    if tab == "quotas":
        return tab_page(request, tab, **await quota_pages.panel(rt))
    if tab == "organizations":
        return tab_page(request, tab, created=None, organizations=await rt.db.read(orgs.list_orgs))
    return tab_page(request, tab, created=None, messages=await rt.db.read(global_messages.list_all))


async def _account_named(rt: Runtime, name: str, kind: str) -> AccountRecord:
    account = await rt.db.read(accounts.get_by_name, name)
    if account is None or account.kind != kind:
        raise WebError.not_found(f"{'User' if kind == 'user' else 'Organization'} {name}")
    return account


async def create_user(request: Request) -> Response:
    rt = access.runtime(request)
    v = await access.superuser(request)
    form = await read_form(rt, request)
    if rt.settings.AUTHENTICATION_TYPE != "Database":
        raise WebError(
            400,
            "Users come from the directory",
            "While AUTHENTICATION_TYPE is LDAP, a user's first sign-in makes the account: "
            "there is none to create here.",
        )
    name, email = form.get("username", "").strip(), form.get("email", "").strip() or None
    password = secrets.token_urlsafe(18)
    account = await rt.db.write(accounts.create_user, name, password, email, actor=v.actor)
    users = await rt.db.read(accounts.list_users)
    # The generated password is shown this once, on this answer, and never stored readable.
    return tab_page(request, "users", 201, users=users, created={"name": account.name, "password": password})


async def change_user(request: Request) -> Response:
    rt = access.runtime(request)
    v = await access.superuser(request)
    form = await read_form(rt, request)
    target = await _account_named(rt, request.path_params["name"], "user")
    action = request.path_params["action"]
    if why := permissions.why_superuser_may_not(rt.settings, v.identity, target, action):
        raise WebError.forbidden(why[0].upper() + why[1:] + ".")
    if action == "disable" or action == "enable":
        await rt.db.write(accounts.update_user, target, enabled=action == "enable", actor=v.actor)
        return render.redirect("/superuser?tab=users", f"{target.name} is {action}d.")
    if action == "password":
        if rt.settings.AUTHENTICATION_TYPE != "Database":
            raise WebError(
                400, "Passwords are the directory's", f"Change {target.name}'s password in the directory."
            )
        await rt.db.write(accounts.update_user, target, password=form.get("password", ""), actor=v.actor)
        return render.redirect("/superuser?tab=users", f"{target.name} has a new password.")
    if action == "delete":
        await confirm_fresh_login(rt, request, v, form, "/superuser?tab=users")
        await account_service.delete_user(rt, target, v.actor)
        return render.redirect("/superuser?tab=users", f"Deleted user {target.name} and their repositories.")
    raise WebError.not_found("This action")


async def change_organization(request: Request) -> Response:
    rt = access.runtime(request)
    v = await access.superuser(request)
    form = await read_form(rt, request)
    org = await _account_named(rt, request.path_params["name"], "org")
    action = request.path_params["action"]
    if action == "take_ownership":
        if why := permissions.why_superuser_may_not(rt.settings, v.identity, org, action):
            raise WebError.forbidden(why)
        assert v.identity.account_id is not None
        await superuser_service.take_ownership(rt, org, v.identity.account_id, v.actor)
        return render.redirect("/superuser?tab=organizations", f"You are now an owner of {org.name}.")
    if action == "delete":
        await confirm_fresh_login(rt, request, v, form, "/superuser?tab=organizations")
        await account_service.delete_org(rt, org, v.actor)
        return render.redirect("/superuser?tab=organizations", f"Deleted organization {org.name}.")
    raise WebError.not_found("This action")


async def create_message(request: Request) -> Response:
    rt = access.runtime(request)
    v = await access.superuser(request)
    form = await read_form(rt, request)
    media_type = "text/markdown" if form.get("markdown") == "on" else "text/plain"
    await rt.db.write(
        global_messages.create, form.get("content", ""), media_type, form.get("severity", "info"), v.actor
    )
    return render.redirect("/superuser?tab=messages", "The message is shown on every page now.")


async def delete_message(request: Request) -> Response:
    rt = access.runtime(request)
    v = await access.superuser(request)
    await read_form(rt, request)
    await rt.db.write(global_messages.remove, request.path_params["uuid"], v.actor)
    return render.redirect("/superuser?tab=messages", "Message removed.")


ROUTES: list[BaseRoute] = [
    Route("/superuser", show, methods=["GET"]),
    Route("/superuser/users", create_user, methods=["POST"]),
    Route("/superuser/users/{name}/{action}", change_user, methods=["POST"]),
    Route("/superuser/organizations/{name}/{action}", change_organization, methods=["POST"]),
    Route("/superuser/messages", create_message, methods=["POST"]),
    Route("/superuser/messages/{uuid}/delete", delete_message, methods=["POST"]),
]

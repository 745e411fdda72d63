"""/organization/<org>?tab=repos|teams|robots|defaultperms|applications|settings|logs,
/organizations/new/ and deleting an organization.

Anyone who may see the organization sees its repositories (those they may read); members see the
teams they are in; administrators see and change everything. The tabs' own pages and forms are in
pages/teams.py, pages/robots.py, pages/default_permissions.py and pages/applications.py; the
settings form (shared with user namespaces) in pages/user.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.runtime import Runtime
from wharf.secscan import policy
from wharf.services import accounts as account_service
from wharf.services import proxy_cache, secscan_settings
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.pages import (
    _namespace,
    _repo_list,
    applications,
    default_permissions,
    org_mirror,
    retention,
    robots,
    teams,
)
from wharf.web.pages import proxy_cache as proxy_cache_page
from wharf.web.session import Visitor, confirm_fresh_login, read_form, signed_in, visitor

TABS = ("repos", "teams", "robots", "defaultperms", "applications", "settings", "logs")
ADMIN_TABS = frozenset(TABS) - {"repos", "teams"}


NEW_PAGE = "/organizations/new/"


async def new_page(request: Request, validated: str | None = None) -> Response:
    rt = access.runtime(request)
    await signed_in(rt, request)
    return render.page(
        request,
        "organization/new.html",
        proxy_cache_on=rt.settings.FEATURE_PROXY_CACHE,
        validated=validated,
    )


async def create(request: Request) -> Response:
    """Create the organization, a proxy cache when that box is ticked; or (the Validate button)
    check the proxy cache's upstream and show the form again as it was typed."""
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    typed = dict(form)
    as_proxy = rt.settings.FEATURE_PROXY_CACHE and (
        form.get("proxy_cache") == "on" or form.get("action") == "validate"
    )
    proxy = proxy_cache_page.entered(typed, NEW_PAGE) if as_proxy else None
    if proxy is not None and form.get("action") == "validate":
        said = await proxy_cache_page.validated(rt, typed, NEW_PAGE)
        request.scope["wharf.entered"] = forms.Entered(NEW_PAGE, forms.kept(typed))
        return await new_page(request, validated=said)
    name, email = form.get("name", "").strip(), form.get("email", "").strip()
    if email and ("@" not in email or len(email) > 255):
        raise FormError(
            NEW_PAGE, email="That e-mail address does not look right: use one like team@example.com, or none."
        )
    assert v.identity.account_id is not None
    advice = {
        "name": f"{forms.ACCOUNT_SYNTAX} Pick a name no user or organization has.",
        **proxy_cache_page.ADVICE,
    }
    with forms.refusing(NEW_PAGE, advice=advice):
        await account_service.create_org(rt, v.identity, name, email or None, v.actor, proxy=proxy)
    if proxy is not None:
        return render.redirect(
            f"/organization/{name}?tab=settings",
            f"Created organization {name}, a proxy cache of {proxy.upstream_registry}: pull its images as "
            f"{name}/NAME:TAG.",
        )
    return render.redirect(
        f"/organization/{name}?tab=teams",
        f"Created organization {name}. You are in its owners team; create teams and robots next.",
    )


async def _repos_tab(request: Request, rt: Runtime, v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    listed = await _repo_list.read(request, v, action=ns.base, namespace=ns.name, keep={"tab": "repos"})
    can_create = await rt.db.read(permissions.can_create_in, rt.settings, v.identity, ns.account)
    return {"lst": listed, "can_create": can_create}


# The other tabs' readers are those pages' own, each one service call.
async def _teams_tab(request: Request, rt: Runtime, v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    return await teams.tab(request, rt, v, ns)


async def _robots_tab(request: Request, rt: Runtime, _v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    return await robots.listing(request, rt, ns)


async def _defaultperms_tab(_request: Request, rt: Runtime, _v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    return await default_permissions.read_tab(rt, ns)


async def _applications_tab(_request: Request, rt: Runtime, _v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    return await applications.read_tab(rt, ns)


async def _settings_tab(_request: Request, rt: Runtime, _v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    found = await retention.namespace_context(rt, ns)
    found.update(security=await secscan_settings.get(rt, ns.account), levels=policy.LEVELS)
    if rt.settings.FEATURE_PROXY_CACHE:
        found.update(proxy_cache_on=True, proxy_cache=await proxy_cache.get(rt, ns.account))
    found.update(await org_mirror.context(rt, ns))
    return found


_TabReader = Callable[[Request, Runtime, Visitor, NamespacePage], Awaitable[dict[str, Any]]]
_TAB_READERS: dict[str, _TabReader] = {
    "repos": _repos_tab,
    "teams": _teams_tab,
    "robots": _robots_tab,
    "defaultperms": _defaultperms_tab,
    "applications": _applications_tab,
    "settings": _settings_tab,
}


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    ns = await access.organization(request, v, request.path_params["org"])
    tab = request.query_params.get("tab", "repos")
    if tab not in TABS:
        tab = "repos"
    if tab in ADMIN_TABS or (tab == "teams" and not ns.is_member):
        if not v.signed_in:
            raise WebError.sign_in(request)
        if tab == "teams" and not ns.is_member:
            raise WebError.forbidden(f"Only members of {ns.name} see its teams.")
        access.require_admin(ns)
    reader = _TAB_READERS.get(tab)
    found = await reader(request, rt, v, ns) if reader is not None else {}
    return await _namespace.tab_page(request, ns, tab, found)


async def delete_org(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    if form.get("confirm", "") != ns.name:
        raise FormError(
            f"/organization/{ns.name}?tab=settings",
            confirm=f"That is not the organization's name: type {ns.name} exactly to delete it. "
            "Nothing was deleted.",
        )
    await confirm_fresh_login(rt, request, v, form, f"/organization/{ns.name}?tab=settings")
    await account_service.delete_org(rt, ns.account, v.actor)
    return render.redirect("/", f"Deleted organization {ns.name} with its repositories, teams and robots.")


_POLICY_MODES = ("default", "off", "on")


async def save_security(request: Request) -> Response:
    """The Security section of the settings tab: the pull policy and the SBOM attachment."""
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    here = f"{ns.base}?tab=settings"
    mode = form.get("policy", "default")
    if mode not in _POLICY_MODES:
        raise FormError(here, policy="Pick one of the listed choices.")
    sbom = form.get("sbom_format", "") or None
    rule = None
    if mode != "default":
        with forms.refusing(here, advice={"severity": "Pick one of the listed levels."}):
            rule = secscan_settings.make_policy(
                form.get("severity") if mode == "on" else None,
                fixable_only=form.get("fixable_only") == "on",
                exempt_robots=form.get("exempt_robots") == "on",
                exempt_superusers=form.get("exempt_superusers") == "on",
            )
    with forms.refusing(here, advice={"sbom_format": "Pick one of the listed formats, or none."}):
        await secscan_settings.update(rt, ns.account, pull_policy=rule, sbom_format=sbom, actor=v.actor)
    return render.redirect(here, "Saved the security settings.")


ROUTES: list[BaseRoute] = [
    Route(NEW_PAGE, new_page, methods=["GET"]),
    Route(NEW_PAGE, create, methods=["POST"]),
    Route("/organization/{org:str}", show, methods=["GET"]),
    Route("/organization/{org:str}/delete", delete_org, methods=["POST"]),
    Route("/organization/{org:str}/securitysettings", save_security, methods=["POST"]),
]

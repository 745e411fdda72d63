"""Storage quotas in the browser: the Quota section of an organization's or user's settings (read
by members, changed by superusers) and the superuser panel's Quotas tab (namespaces by usage).

The forms post to /superuser/quotas/<namespace>/<action>; each action is a small function of the
table below, and every one sends the superuser back to the page it came from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import accounts
from wharf.core.accounts import AccountRecord
from wharf.runtime import Runtime
from wharf.services import quotas as service
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.session import Visitor, read_form


async def settings_section(rt: Runtime, request: Request, ns: NamespacePage) -> dict[str, Any]:
    """What the settings tab's Quota section needs (nothing without FEATURE_QUOTA_MANAGEMENT):
    members see it, superusers also change it."""
    if not rt.settings.FEATURE_QUOTA_MANAGEMENT:
        return {}
    v: Visitor | None = request.scope.get("wharf.visitor")
    may_edit = v is not None and permissions.is_superuser(v.identity) and rt.settings.FEATURE_EDIT_QUOTA
    return {"quota": await service.namespace_view(rt, ns.account.id), "quota_may_edit": may_edit}


async def panel(rt: Runtime) -> dict[str, Any]:
    return {"panel": await service.panel(rt), "quota_on": rt.settings.FEATURE_QUOTA_MANAGEMENT}


@dataclass(frozen=True, slots=True)
class _Change:
    rt: Runtime
    v: Visitor
    namespace: AccountRecord
    form: dict[str, str]
    back: str


def _back(form: dict[str, str], namespace: AccountRecord) -> str:
    # Only the two pages with quota forms: never an address the form was given from elsewhere.
    if form.get("from") == "panel":
        return "/superuser?tab=quotas"
    kind = "organization" if namespace.kind == "org" else "user"
    return f"/{kind}/{namespace.name}?tab=settings"


async def _set(c: _Change) -> Response:
    with forms.refusing(c.back, {"limit_bytes": "limit"}, action=f"/superuser/quotas/{c.namespace.name}/set"):
        await service.set_limit_bytes(
            c.rt, c.namespace.id, c.namespace.name, c.form.get("limit", ""), c.v.actor
        )
    return render.redirect(c.back, f"The quota of {c.namespace.name} is {c.form.get('limit', '').strip()}.")


async def _remove(c: _Change) -> Response:
    found = await service.quota_of(c.rt, c.namespace.id)
    if found is not None:
        await service.delete(c.rt, c.namespace.id, c.namespace.name, found.id, c.v.actor)
    return render.redirect(c.back, f"{c.namespace.name} has no quota now.")


async def _add_limit(c: _Change) -> Response:
    found = await service.quota_of(c.rt, c.namespace.id)
    if found is None:
        raise WebError.not_found(f"A quota of {c.namespace.name}")
    percent = c.form.get("percent", "").strip()
    page = f"/superuser/quotas/{c.namespace.name}/add_limit"
    if not percent.isdigit():
        raise forms.FormError(c.back, action=page, threshold_percent="Give a whole percentage from 1 to 100.")
    with forms.refusing(c.back, action=page):
        await service.create_limit(
            c.rt, c.namespace.id, c.namespace.name, found.id, c.form.get("type", ""), int(percent), c.v.actor
        )
    return render.redirect(c.back, f"Added a {c.form.get('type')} limit at {percent} %.")


async def _remove_limit(c: _Change) -> Response:
    found = await service.quota_of(c.rt, c.namespace.id)
    limit_id = c.form.get("limit_id", "")
    if found is None or not limit_id.isdigit():
        raise WebError.not_found("This limit")
    await service.delete_limit(c.rt, c.namespace.id, c.namespace.name, found.id, int(limit_id), c.v.actor)
    return render.redirect(c.back, "Limit removed.")


_ACTIONS: dict[str, Callable[[_Change], Awaitable[Response]]] = {
    "set": _set,
    "remove": _remove,
    "add_limit": _add_limit,
    "remove_limit": _remove_limit,
}


async def change(request: Request) -> Response:
    rt = access.runtime(request)
    v = await access.superuser(request)
    form = await read_form(rt, request)
    action = _ACTIONS.get(request.path_params["action"])
    if action is None or not rt.settings.FEATURE_QUOTA_MANAGEMENT:
        raise WebError.not_found("This action")
    if not rt.settings.FEATURE_EDIT_QUOTA:
        raise WebError.forbidden("Quotas cannot be edited on this registry (FEATURE_EDIT_QUOTA).")
    namespace = await rt.db.read(accounts.get_by_name, request.path_params["name"])
    if namespace is None or namespace.kind not in ("user", "org"):
        raise WebError.not_found(f"Namespace {request.path_params['name']}")
    return await action(_Change(rt, v, namespace, dict(form), _back(dict(form), namespace)))


ROUTES: list[BaseRoute] = [
    Route("/superuser/quotas/{name:str}/{action:str}", change, methods=["POST"]),
]

"""The Organization mirroring section of an organization's Settings tab (FEATURE_ORG_MIRROR):
configure, check the connection, sync now, cancel, remove; with the status and the repositories
found upstream. The work is services/org_mirroring.py's, as for /api/v1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import org_mirrors
from wharf.core.clock import now_ms
from wharf.core.errors import UpstreamRefused
from wharf.runtime import Runtime
from wharf.services import org_mirroring
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.pages import mirror_proxy
from wharf.web.session import Visitor, read_form

LISTED = 100
"""Discovered repositories shown on the page (the API pages through all of them)."""


async def context(rt: Runtime, ns: NamespacePage) -> dict[str, Any]:
    if not rt.settings.FEATURE_ORG_MIRROR:
        return {"org_mirror_on": False}
    found = await org_mirroring.find(rt, ns.account)
    if found is None:
        return {"org_mirror_on": True, "org_mirror": None, "org_mirror_repos": [], "org_mirror_total": 0}
    repos, total = await org_mirroring.repositories(rt, ns.account, status=None, page=1, limit=LISTED)
    return {
        "org_mirror_on": True,
        "org_mirror": await org_mirroring.describe(rt, found),
        "org_mirror_proxy": mirror_proxy.summary(found.external_registry_config),
        "org_mirror_repos": repos,
        "org_mirror_total": total,
    }


def _number(form: dict[str, str], name: str, default: int, page: str) -> int:
    text = form.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or len(text) > 10:
        raise FormError(page, {name: "Write the seconds as a whole number."})
    return int(text)


def _settings(
    form: dict[str, str], page: str, current: org_mirrors.OrgMirrorRecord | None
) -> org_mirrors.Settings:
    new = current is None
    filters = [f.strip() for f in form.get("repository_filters", "").split(",") if f.strip()]
    architectures = [a.strip() for a in form.get("architecture_filter", "").split(",") if a.strip()]
    return org_mirrors.Settings(
        external_registry_type=(form.get("external_registry_type") or "harbor") if new else None,
        external_registry_url=form.get("external_registry_url", "").strip(),
        external_namespace=form.get("external_namespace", "").strip(),
        robot_username=form.get("robot_username", "").strip(),
        visibility=form.get("visibility") or "private",
        sync_interval=_number(form, "sync_interval", 86400, page),
        sync_start_ms=now_ms() if new else None,  # a new mirror syncs at once
        is_enabled=form.get("is_enabled") == "on",
        username=form.get("username", "").strip() or (None if new else ""),
        password=form.get("password") or None,  # an empty field keeps the stored one
        external_registry_config=mirror_proxy.registry_config(
            form, current.external_registry_config if current is not None else None
        ),
        repository_filters=filters,
        architecture_filter=architectures,
        skopeo_timeout=_number(form, "skopeo_timeout", 300, page),
    )


async def _save(rt: Runtime, v: Visitor, ns: NamespacePage, form: dict[str, str], page: str) -> Response:
    current = await org_mirroring.find(rt, ns.account)
    exists = current is not None
    settings = _settings(form, page, current)
    with forms.refusing(page):
        try:
            if exists:
                await org_mirroring.change(rt, ns.account, settings, v.actor)
            else:
                await org_mirroring.create(rt, ns.account, settings, v.actor)
        except UpstreamRefused as e:  # the registry's address, or a proxy's
            raise FormError(page, {e.field or "external_registry_url": forms.sentence(str(e))}) from None
    said = (
        "Saved the organization mirror." if exists else f"{ns.name} now mirrors; the first sync is due now."
    )
    return render.redirect(page, said)


async def _sync_now(rt: Runtime, v: Visitor, ns: NamespacePage, _form: dict[str, str], page: str) -> Response:
    with forms.refusing(page, missing="There is no organization mirror."):
        done = await org_mirroring.sync_now(rt, ns.account, v.actor)
    return render.redirect(page, "A sync is queued." if done else "A sync is running already.")


async def _cancel(rt: Runtime, v: Visitor, ns: NamespacePage, _form: dict[str, str], page: str) -> Response:
    with forms.refusing(page, missing="There is no organization mirror."):
        done = await org_mirroring.cancel(rt, ns.account, v.actor)
    return render.redirect(page, "The sync is cancelled." if done else "It was cancelled already.")


async def _verify(rt: Runtime, _v: Visitor, ns: NamespacePage, _form: dict[str, str], page: str) -> Response:
    with forms.refusing(page, missing="There is no organization mirror."):
        success, message = await org_mirroring.verify_connection(rt, ns.account)
    if not success:
        raise FormError(page, {forms.SUMMARY: forms.sentence(message)})
    return render.redirect(page, forms.sentence(message))


async def _remove(rt: Runtime, v: Visitor, ns: NamespacePage, _form: dict[str, str], page: str) -> Response:
    with forms.refusing(page, missing="It was removed already."):
        await org_mirroring.delete(rt, ns.account, v.actor)
    return render.redirect(page, f"{ns.name} no longer mirrors; its repositories stay, as normal ones.")


_ACTIONS: dict[str, Callable[[Runtime, Visitor, NamespacePage, dict[str, str], str], Awaitable[Response]]] = {
    "save": _save,
    "sync-now": _sync_now,
    "cancel": _cancel,
    "verify": _verify,
    "remove": _remove,
}


async def change(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    if not rt.settings.FEATURE_ORG_MIRROR:
        raise WebError.not_found("Organization mirroring is turned off on this registry.")
    form = await read_form(rt, request)
    handler = _ACTIONS.get(form.get("action", ""))
    if handler is None:
        raise WebError.not_found("No such action.")
    return await handler(rt, v, ns, dict(form), f"{ns.base}?tab=settings")


ROUTES: list[BaseRoute] = [Route("/organization/{org:str}/mirror", change, methods=["POST"])]

"""The "Tag retention" section of the settings tabs of repositories, organizations and users:
auto-prune and immutability policies (list, create, change, delete) and a preview of the tags a
run would delete or make immutable now. The forms post to
/repository/<ns>/<name>/retention/<action>, /organization/<org>/retention/<action> and
/user/<name>/retention/<action>; each change is the core function the API calls."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth.permissions import ADMIN
from wharf.core import retention_policies as policies
from wharf.core.repositories import RepositoryRecord
from wharf.core.retention_policies import Scope
from wharf.runtime import Runtime
from wharf.services import retention as service
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.session import read_form, signed_in

PREVIEW_TAGS = 30
"""Tag names a preview lists per repository (with the total)."""

_FIELDS = {"tagPattern": "tag_pattern"}
_ADVICE = {
    "tag_pattern": "Patterns are RE2 regular expressions, like ^v[0-9]+$ or -rc[0-9]*$.",
    "value": "For a number of tags enter a whole number like 10; for an age, a duration like 7d, 12h or 2w.",
}


async def context(rt: Runtime, scope: Scope, base: str) -> dict[str, Any]:
    """What the section shows; `base` is the address its forms post to (…/retention/)."""
    on = rt.settings.FEATURE_AUTO_PRUNE or rt.settings.FEATURE_IMMUTABLE_TAGS
    return {
        "retention": await service.policies_of(rt, scope) if on else None,
        "retention_base": base,
        "prune_on": rt.settings.FEATURE_AUTO_PRUNE,
        "freeze_on": rt.settings.FEATURE_IMMUTABLE_TAGS,
        "preview_tags": PREVIEW_TAGS,
        "autoprune_minutes": rt.settings.AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES,
    }


async def namespace_context(rt: Runtime, ns: NamespacePage) -> dict[str, Any]:
    found = await context(rt, Scope(ns.account.id, ns.name), f"{ns.base}/retention/")
    found["freeze_on"] = found["freeze_on"] and ns.is_org  # users have no immutability policies (Quay)
    return found


async def repository_context(rt: Runtime, repo: RepositoryRecord) -> dict[str, Any]:
    return await context(rt, Scope.of(repo), f"/repository/{repo.full_name}/retention/")


def _matches(form: dict[str, str]) -> bool:
    return form.get("tag_pattern_matches", "true") != "false"


async def _apply(
    rt: Runtime, scope: Scope, action: str, form: dict[str, str], by: Any, here: str, base: str
) -> str:
    """Carry out `action`; the sentence the page then shows."""
    uuid = form.get("uuid", "")
    pattern = form.get("tag_pattern", "").strip() or None
    kind, _, verb = action.partition("-")
    if (kind == "prune" and not rt.settings.FEATURE_AUTO_PRUNE) or (
        kind == "freeze" and not rt.settings.FEATURE_IMMUTABLE_TAGS
    ):
        raise WebError(400, "Turned off", "The registry's admin has turned this kind of policy off.")
    form_action = f"{base}{action}" + (f"?{uuid}" if verb == "update" else "")
    with forms.refusing(here, _FIELDS, _ADVICE, action=form_action):
        if action in ("prune-create", "prune-update"):
            rule = policies.check_prune(
                form.get("method", ""), form.get("value", "").strip(), pattern, _matches(form)
            )
            if verb == "create":
                await rt.db.write(policies.create_prune, scope, rule, by)
                return "Added the auto-prune policy: it is applied in a moment."
            await rt.db.write(policies.update_prune, scope, uuid, rule, by)
            return "Saved the auto-prune policy."
        if action in ("freeze-create", "freeze-update"):
            freeze = policies.check_freeze(pattern, _matches(form))
            if verb == "create":
                await rt.db.write(policies.create_freeze, scope, freeze, by)
                return "Added the immutability policy: matching tags are made immutable in a moment."
            await rt.db.write(policies.update_freeze, scope, uuid, freeze, by)
            return "Saved the immutability policy."
    if action == "prune-delete":
        await rt.db.write(policies.delete_prune, scope, uuid, by)
        return "Deleted the auto-prune policy."
    if action == "freeze-delete":
        await rt.db.write(policies.delete_freeze, scope, uuid, by)
        return "Deleted the immutability policy. The tags it made immutable stay so."
    raise WebError.not_found("This action")


async def change_repository(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    full_name = request.path_params["repository"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name, ADMIN)
    here = f"/repository/{full_name}?tab=settings"
    base = f"/repository/{full_name}/retention/"
    said = await _apply(rt, Scope.of(view.repo), request.path_params["action"], form, v.actor, here, base)
    return render.redirect(here + "#retention", said)


async def change_namespace(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    ns = await access.admined_namespace(request, v)
    if not ns.is_org and request.path_params["action"].startswith("freeze"):
        raise WebError(
            400, "Organizations only", "Immutability policies belong to organizations and repositories."
        )
    here = f"{ns.base}?tab=settings"
    base = f"{ns.base}/retention/"
    scope = Scope(ns.account.id, ns.account.name)
    said = await _apply(rt, scope, request.path_params["action"], form, v.actor, here, base)
    return render.redirect(here + "#retention", said)


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/retention/{action}", change_repository, methods=["POST"]),
    Route("/organization/{ns:str}/retention/{action}", change_namespace, methods=["POST"]),
    Route("/user/{ns:str}/retention/{action}", change_namespace, methods=["POST"]),
]

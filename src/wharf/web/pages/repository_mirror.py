"""The Mirroring section of a repository's settings (FEATURE_REPO_MIRROR): configure the mirror,
sync now, cancel, and see the sync's status. The work is services/mirroring.py's."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from wharf.auth.permissions import RepositoryView
from wharf.core import audit, mirrors, repositories
from wharf.core.errors import UpstreamRefused
from wharf.runtime import Runtime
from wharf.services import mirroring
from wharf.web import forms, render
from wharf.web.forms import FormError
from wharf.web.pages import mirror_proxy

ACTIONS = ("mirror", "mirror-sync-now", "mirror-sync-cancel")
MANAGED_BY_ORG = (
    "This repository's mirror is managed by the organization's mirror: change it in the "
    "organization's settings."
)


async def context(rt: Runtime, view: RepositoryView) -> dict[str, Any]:
    if not rt.settings.FEATURE_REPO_MIRROR:
        return {"mirror_on": False, "mirror": None}
    found = await mirroring.find(rt, view.repo)
    by_org = view.repo.state == repositories.ORG_MIRROR
    return {
        "mirror_on": True,
        "mirror": mirroring.describe(rt, found) if found is not None else None,
        "mirror_proxy": mirror_proxy.summary(found.external_registry_config) if found is not None else None,
        "mirror_architectures": mirrors.VALID_ARCHITECTURES,
        # its mirror is the organization mirror's: configured there, not here
        "mirror_by_org": f"/organization/{view.namespace.name}?tab=settings#org-mirroring"
        if by_org
        else None,
    }


def _number(form: dict[str, str], name: str, default: int, page: str) -> int:
    text = form.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise FormError(page, {name: "Enter a whole number of seconds."}) from None


def _settings(form: dict[str, str], page: str, current: mirrors.MirrorRecord | None) -> mirrors.Settings:
    new = current is None
    globs = [g.strip() for g in form.get("tags", "").split(",") if g.strip()]
    return mirrors.Settings(
        external_reference=form.get("external_reference", "").strip(),
        username=form.get("username", "").strip() or (None if new else ""),
        # an empty password field keeps the stored one
        password=form.get("password") or None,
        robot_username=form.get("robot_username", "").strip() or None,
        is_enabled=form.get("is_enabled") == "on",
        sync_interval=_number(form, "sync_interval", 86400, page),
        # how long the copier waits for the upstream to connect or send the next bytes
        skopeo_timeout_interval=_number(form, "skopeo_timeout_interval", 300, page),
        root_rule={"rule_kind": "tag_glob_csv", "rule_value": globs},
        external_registry_config=mirror_proxy.registry_config(
            form, current.external_registry_config if current is not None else None
        ),
        architecture_filter=[a for a in mirrors.VALID_ARCHITECTURES if form.get(f"arch_{a}") == "on"],
    )


async def change(
    rt: Runtime, view: RepositoryView, form: dict[str, str], action: str, by: audit.Actor, back: str
) -> Response:
    if not rt.settings.FEATURE_REPO_MIRROR:
        raise FormError(f"{back}#mirroring", {forms.SUMMARY: "Repository mirroring is turned off."})
    page = f"{back}#mirroring"
    repo = view.repo
    if action == "mirror-sync-now":
        done = await mirroring.sync_now(rt, repo, by)
        return render.redirect(back, "A sync is queued." if done else "A sync is running already.")
    if action == "mirror-sync-cancel":
        done = await mirroring.sync_cancel(rt, repo, by)
        return render.redirect(back, "The sync is cancelled." if done else "No sync was running.")
    if repo.state == repositories.ORG_MIRROR:  # the page has no form for it: said, nothing saved
        return render.redirect(back, MANAGED_BY_ORG)
    current = await mirroring.find(rt, repo)
    exists = current is not None
    settings = _settings(form, page, current)
    with forms.refusing(page, {"root_rule": "tags"}):
        try:
            if exists:
                await mirroring.change(rt, repo, settings, by)
            else:
                await mirroring.create(rt, repo, settings, by)
        except UpstreamRefused as e:  # the upstream's address, or a proxy's
            raise FormError(page, {e.field or "external_reference": forms.sentence(str(e))}) from None
    return render.redirect(
        back, "Saved the mirror." if exists else "The repository is now a mirror; a sync is queued."
    )

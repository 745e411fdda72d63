"""What the organization and user pages share: their tabs (the namespace as the visitor may use it
is web/access.py's `NamespacePage`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wharf.core import durations, tag_changes
from wharf.web import render
from wharf.web.access import NamespacePage, runtime
from wharf.web.pages import logs as logs_view
from wharf.web.pages import quotas as quota_pages


def expiration_choices(options: list[str]) -> list[tuple[int, str]]:
    """TAG_EXPIRATION_OPTIONS as (seconds, label), shortest first."""
    seen = {durations.parse_seconds(o): o for o in options}
    return sorted(seen.items())


def label_seconds(seconds: int) -> str:
    for unit, length in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            n = seconds // length
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


async def tab_page(request: Request, ns: NamespacePage, tab: str, found: dict[str, Any]) -> Response:
    """One tab of an organization's or a user's page (they share the templates), with the logs
    view read here when the tab is `logs`."""
    rt = runtime(request)
    if tab == "logs":
        found["logs"] = await logs_view.view(
            rt, request, ns.log_scope, base=f"{ns.base}?tab=logs", export_action=f"{ns.base}/logs/export"
        )
    if tab == "settings":
        found.update(await quota_pages.settings_section(rt, request, ns))
    return render.page(
        request,
        f"organization/{tab}.html",
        ns=ns,
        tab=tab,
        settings=rt.settings,
        choices=expiration_choices(rt.settings.TAG_EXPIRATION_OPTIONS),
        window_s=tag_changes.time_machine_s(rt.settings.DEFAULT_TAG_EXPIRATION, ns.account),
        label_seconds=label_seconds,
        **found,
    )

"""/repository/<ns>/<name>?tab=info|tags|history|logs|settings: a repository as the visitor may see it
(the admins' logs and settings tabs are web/pages/repository_settings.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import audit, tag_changes
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.runtime import Runtime
from wharf.services import secscan_views
from wharf.services import tags as service
from wharf.web import access, forms, pulls, render
from wharf.web.errors import WebError
from wharf.web.pages import _list_query as list_query
from wharf.web.pages import _tags_query as tags_query
from wharf.web.pages import builds as builds_page
from wharf.web.pages import repository_settings
from wharf.web.session import Visitor, read_form, signed_in, visitor

TABS = ("info", "tags", "history", "builds", "logs", "settings")
ADMIN_TABS = ("logs", "settings")


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name = request.path_params["repository"].rstrip("/")
    view = await access.repository(request, v, full_name)
    tab = request.query_params.get("tab", "info")
    if tab not in TABS:
        tab = "info"
    if tab in ADMIN_TABS:
        return await _admin_tab(request, v, full_name, tab)
    return await _TABS[tab](request, v, view)


async def _info_tab(request: Request, v: Visitor, view: RepositoryView) -> Response:
    rt = access.runtime(request)
    tag = request.query_params.get("tag", "").strip()[:128]
    found = await service.overview(rt, view.repo, v.identity.account_id, tag)
    shown = found.pull.manifest_digest if found.pull and not found.pull.is_index else None
    security = await secscan_views.tag_summaries(rt, [shown] if shown else [])
    pull = pulls.choice(request)
    response = render.page(
        request,
        "repository/info.html",
        page=access.repository_page(request, view),
        tab="info",
        description=found.description,
        starred=found.starred,
        pull_tag=found.pull,
        asked_tag=tag,
        recent=found.recent,
        size_bytes=found.size_bytes,
        pull=pull,
        security=security,
    )
    return pull.keep(response)


async def _tags_tab(request: Request, v: Visitor, view: RepositoryView) -> Response:
    rt = access.runtime(request)
    query = tags_query.parse(dict(request.query_params))
    found = await service.tags_tab(
        rt,
        view.repo,
        v.identity.account_id,
        pattern=query.q if query.valid_filter else "",
        sort=query.sort,
        descending=query.descending,
        page=query.page,
        per_page=query.per_page,
        chosen=query.change,
    )
    listing = found.page if query.valid_filter else None
    # One statement for the page's rows (an index's images are summed on their own pages).
    shown = [r.manifest_digest for r in listing.rows if not r.is_index] if listing else []
    security = await secscan_views.tag_summaries(rt, shown)
    pull = pulls.choice(request)
    response = render.page(
        request,
        "repository/tags.html",
        page=access.repository_page(request, view),
        tab="tags",
        description=found.overview.description,
        starred=found.overview.starred,
        listing=listing,
        tq=query,
        filter_help=tags_query.FILTER_HELP,
        chosen=found.chosen,
        pull=pull,
        settings=rt.settings,
        security=security,
    )
    return pull.keep(response)


async def _history_tab(request: Request, v: Visitor, view: RepositoryView) -> Response:
    rt = access.runtime(request)
    query = list_query.parse("", request.query_params, {"tab": "history"})
    valid = tags_query.FILTER_CHARS.fullmatch(query.q) is not None
    found = await service.history_tab(
        rt, view.repo, v.identity.account_id, pattern=query.q if valid else "", page=query.page
    )
    window_s = tag_changes.time_machine_s(rt.settings.DEFAULT_TAG_EXPIRATION, view.namespace)
    return render.page(
        request,
        "repository/history.html",
        page=access.repository_page(request, view),
        tab="history",
        description=found.overview.description,
        starred=found.overview.starred,
        history=found.history if valid else None,
        lq=query,
        filter_help=tags_query.FILTER_HELP,
        revert_after_ms=now_ms() - window_s * 1000,
        settings=rt.settings,
    )


_TABS: dict[str, Callable[[Request, Visitor, RepositoryView], Awaitable[Response]]] = {
    "info": _info_tab,
    "tags": _tags_tab,
    "history": _history_tab,
    "builds": builds_page.builds_tab,
}


async def _admin_tab(request: Request, v: Visitor, full_name: str, tab: str) -> Response:
    rt = access.runtime(request)
    view = await access.repository(request, v, full_name, permissions.ADMIN)
    page = access.repository_page(request, view)
    if tab == "logs":
        found = await repository_settings.logs_context(rt, request, view, page.full_name)
    else:
        found = await repository_settings.settings_context(rt, request, view)
        found["needs_password"] = v.needs_password
    return render.page(request, f"repository/{tab}.html", page=page, tab=tab, **found)


@dataclass(frozen=True, slots=True)
class _TagChange:
    """A tag form of the Tags and Tag history tabs, read and checked."""

    rt: Runtime
    view: RepositoryView
    by: audit.Actor
    form: dict[str, str]
    back: str

    @property
    def tag(self) -> str:
        return self.form.get("tag", "").strip()

    @property
    def digest(self) -> str:
        return self.form.get("digest", "")


async def _point(c: _TagChange) -> Response:
    target = c.form.get("new_tag", "").strip()
    await service.point(c.rt, c.view.repo, target, c.digest, c.by)
    return render.redirect(c.back, f"Tag {target} now points at {c.digest}.")


async def _delete(c: _TagChange) -> Response:
    await service.delete(c.rt, c.view.repo, c.tag, c.by)
    return render.redirect(c.back, f"Deleted tag {c.tag}. You can restore it from the tag history.")


async def _expiration(c: _TagChange) -> Response:
    expires_ms = _expiry_ms(c.form.get("expires", ""))
    await service.set_expiration(c.rt, c.view.repo, c.tag, expires_ms, c.by)
    text = f"expires {render.when(expires_ms)}" if expires_ms else "no longer expires"
    return render.redirect(c.back, f"Tag {c.tag} {text}.")


async def _immutable(c: _TagChange) -> Response:
    if not c.rt.settings.FEATURE_IMMUTABLE_TAGS:
        raise WebError(
            400, "Immutable tags are off", "The registry's admin can turn on FEATURE_IMMUTABLE_TAGS."
        )
    immutable = c.form.get("immutable") == "true"
    await service.set_immutable(c.rt, c.view.repo, c.tag, immutable, c.by)
    return render.redirect(c.back, f"Tag {c.tag} is {'now' if immutable else 'no longer'} immutable.")


async def _revert(c: _TagChange) -> Response:
    await service.revert(c.rt, c.view, c.tag, c.digest, c.by)
    return render.redirect(c.back, f"Tag {c.tag} points at {c.digest} again.")


async def _forget(c: _TagChange) -> Response:
    if not c.rt.settings.PERMANENTLY_DELETE_TAGS:
        raise WebError(
            400,
            "Permanent deletion is off",
            "The registry's admin can turn on PERMANENTLY_DELETE_TAGS.",
        )
    removed = await service.forget(c.rt, c.view.repo, c.tag, c.digest, c.by)
    if not removed:
        raise WebError(404, "Nothing to delete", f"Tag {c.tag} has no past lifetime on {c.digest}.")
    return render.redirect(c.back, f"Removed {c.tag} on {c.digest} from the tag history for good.")


_TAG_ACTIONS: dict[str, Callable[[_TagChange], Awaitable[Response]]] = {
    "point": _point,
    "delete": _delete,
    "expiration": _expiration,
    "immutable": _immutable,
    "revert": _revert,
    "forget": _forget,
}


async def change_tags(request: Request) -> Response:
    """The tag forms of the Tags and Tag history tabs; each answers with the tab it came from."""
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name = request.path_params["repository"]
    action = request.path_params["action"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name, permissions.WRITE, changing="tags")
    base = f"/repository/{full_name}"
    change = _TAG_ACTIONS.get(action)
    if change is None:
        raise WebError.not_found("This action")
    if action in ("revert", "forget"):  # buttons of the history: nothing typed to keep
        history = base + list_query.back_url("", form.get("back", ""), {"tab": "history"})
        return await change(_TagChange(rt, view, v.actor, form, history))
    back = tags_query.back_url(base, form.get("back", ""))
    here = tags_query.panel_url(base, form.get("back", ""), form.get("tag", "").strip())
    # A refusal shows the tab again, the tag's panel open, the message next to the field.
    with forms.refusing(here, _TAG_FIELDS, _TAG_ADVICE, missing=_TAG_MISSING):
        return await change(_TagChange(rt, view, v.actor, form, back))


_TAG_FIELDS = {"tag": "new_tag", "expiration": "expires"}
"""Core's fields as the tag panel names them (the one tag field a person types is `new_tag`)."""
_TAG_ADVICE = {
    "new_tag": forms.TAG_SYNTAX,
    "expires": "Pick a date and time in the future, or leave it empty.",
}
_TAG_MISSING = "It was deleted or moved meanwhile: the list shows the tags as they are now."


async def star(request: Request) -> Response:
    """Star or unstar: starred repositories are listed on the home page."""
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    full_name = request.path_params["repository"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name)
    assert v.identity.account_id is not None
    starred = form.get("starred") == "true"
    await service.star(rt, v.identity.account_id, view.repo, starred)
    if starred:
        return render.redirect(
            f"/repository/{full_name}", f"Starred {full_name}: it is listed on your home page."
        )
    return render.redirect(f"/repository/{full_name}", f"Removed the star from {full_name}.")


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/star", star, methods=["POST"]),
    Route("/repository/{repository:path}/tags/{action}", change_tags, methods=["POST"]),
    Route("/repository/{repository:path}", show, methods=["GET"]),
]


def _expiry_ms(text: str) -> int | None:
    """The form's datetime-local value, read as UTC; empty removes the expiration."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"{text.strip()[:40]!r} is not a date and time", field="expiration") from None
    ms = int(moment.timestamp() * 1000)
    if ms <= now_ms():
        raise InvalidInput(f"{render.when(ms)} has passed", field="expiration")
    return ms

"""/repository/<ns>/<name>?tab=info|tags|history|logs|settings: a repository as the visitor may see it
(the admins' logs and settings tabs are web/pages/repository_settings.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import audit, repositories, stars, tag_changes, tags
from wharf.core.clock import now_ms
from wharf.core.tags import TagLifetime
from wharf.db.engine import Db
from wharf.oci import mediatypes as mt
from wharf.runtime import Runtime
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.pages import repository_settings
from wharf.web.session import Visitor, read_form, signed_in, visitor

TABS = ("info", "tags", "history", "logs", "settings")
ADMIN_TABS = ("logs", "settings")
MAX_TAGS = 500
HISTORY_PAGE = 100


def is_index(t: TagLifetime) -> bool:
    return t.media_type in mt.INDEXES


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
    repo = view.repo
    page_no = max(1, _int(request.query_params.get("page"), 1))

    def read(db: Db) -> dict[str, Any]:
        out: dict[str, Any] = {
            "description": repositories.description(db, repo.id),
            "starred": bool(stars.starred_among(db, v.identity.account_id, [repo.id])),
        }
        alive = tags.history(db, repo.id, only_alive=True, limit=MAX_TAGS)
        out["tags"] = sorted(alive, key=lambda t: t.name)
        if tab == "history":
            found = tags.history(
                db, repo.id, only_alive=False, offset=(page_no - 1) * HISTORY_PAGE, limit=HISTORY_PAGE + 1
            )
            out["history"] = found[:HISTORY_PAGE]
            out["more_history"] = len(found) > HISTORY_PAGE
        return out

    found = await rt.db.read(read)
    page = access.repository_page(request, view)
    window_s = tag_changes.time_machine_s(rt.settings.DEFAULT_TAG_EXPIRATION, view.namespace)
    return render.page(
        request,
        f"repository/{tab}.html",
        page=page,
        tab=tab,
        page_no=page_no,
        is_index=is_index,
        revert_after_ms=now_ms() - window_s * 1000,
        settings=rt.settings,
        **found,
    )


async def _admin_tab(request: Request, v: Visitor, full_name: str, tab: str) -> Response:
    rt = access.runtime(request)
    view = await access.repository(request, v, full_name, permissions.ADMIN)
    page = access.repository_page(request, view)
    if tab == "logs":
        found = await repository_settings.logs_context(rt, request, view, page.full_name)
    else:
        found = await repository_settings.settings_context(rt, view)
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
    await c.rt.db.write(tag_changes.point, c.view.repo, target, c.digest, c.by)
    return render.redirect(c.back, f"Tag {target} now points at {c.digest}.")


async def _delete(c: _TagChange) -> Response:
    await c.rt.db.write(tag_changes.delete, c.view.repo, c.tag, c.by)
    return render.redirect(c.back, f"Deleted tag {c.tag}. You can restore it from the tag history.")


async def _expiration(c: _TagChange) -> Response:
    expires_ms = _expiry_ms(c.form.get("expires", ""))
    await c.rt.db.write(tag_changes.set_expiration, c.view.repo, c.tag, expires_ms, c.by)
    text = f"expires {render.when(expires_ms)}" if expires_ms else "no longer expires"
    return render.redirect(c.back, f"Tag {c.tag} {text}.")


async def _immutable(c: _TagChange) -> Response:
    if not c.rt.settings.FEATURE_IMMUTABLE_TAGS:
        raise WebError(
            400, "Immutable tags are off", "The registry's admin can turn on FEATURE_IMMUTABLE_TAGS."
        )
    immutable = c.form.get("immutable") == "true"
    await c.rt.db.write(tag_changes.set_immutable, c.view.repo, c.tag, immutable, c.by)
    return render.redirect(c.back, f"Tag {c.tag} is {'now' if immutable else 'no longer'} immutable.")


async def _revert(c: _TagChange) -> Response:
    window_s = tag_changes.time_machine_s(c.rt.settings.DEFAULT_TAG_EXPIRATION, c.view.namespace)
    await c.rt.db.write(tag_changes.revert, c.view.repo, c.tag, c.digest, window_s * 1000, c.by)
    return render.redirect(c.back, f"Tag {c.tag} points at {c.digest} again.")


async def _forget(c: _TagChange) -> Response:
    if not c.rt.settings.PERMANENTLY_DELETE_TAGS:
        raise WebError(
            400,
            "Permanent deletion is off",
            "The registry's admin can turn on PERMANENTLY_DELETE_TAGS.",
        )
    removed = await c.rt.db.write(tag_changes.forget, c.view.repo, c.tag, c.digest, False, c.by)
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
    back = f"/repository/{full_name}?tab={'history' if action in ('revert', 'forget') else 'tags'}"
    change = _TAG_ACTIONS.get(action)
    if change is None:
        raise WebError.not_found("This action")
    return await change(_TagChange(rt, view, v.actor, form, back))


async def star(request: Request) -> Response:
    """Star or unstar: starred repositories are listed on the home page."""
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    full_name = request.path_params["repository"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name)
    assert v.identity.account_id is not None
    if form.get("starred") == "true":
        await rt.db.write(stars.star, v.identity.account_id, view.repo.id)
        return render.redirect(
            f"/repository/{full_name}", f"Starred {full_name}: it is listed on your home page."
        )
    await rt.db.write(stars.unstar, v.identity.account_id, view.repo.id)
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
        raise WebError(
            400, "That date could not be read", "Pick a date and time, or leave it empty."
        ) from None
    ms = int(moment.timestamp() * 1000)
    if ms <= now_ms():
        raise WebError(
            400, "That moment has passed", "Pick a date and time in the future, or delete the tag."
        )
    return ms


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default

"""/repository/<ns>/<name>?tab=info|tags|history: a repository as the visitor may see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import repositories, tags
from wharf.core.tags import TagLifetime
from wharf.db.engine import Db
from wharf.oci import mediatypes as mt
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.runtime import Runtime
from wharf.web import render
from wharf.web.errors import WebError
from wharf.web.session import Visitor, visitor

TABS = ("info", "tags", "history")
MAX_TAGS = 500
HISTORY_PAGE = 100


@dataclass(frozen=True, slots=True)
class RepositoryPage:
    view: RepositoryView
    full_name: str
    registry_host: str

    @property
    def can_write(self) -> bool:
        return permissions.RANK[self.view.role] >= permissions.RANK[permissions.WRITE]

    @property
    def can_admin(self) -> bool:
        return self.view.role == permissions.ADMIN


async def find(rt: Runtime, request: Request, v: Visitor, full_name: str) -> RepositoryView:
    """The repository with the visitor's role; a hidden one looks like a missing one, and an
    anonymous visitor is asked to sign in first (the repository may be theirs)."""
    try:
        name = RepositoryName.parse(full_name, rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError:
        raise WebError.not_found(f"Repository {full_name}") from None
    view = await rt.db.read(permissions.view_repository, rt.settings, v.identity, name.namespace, name.name)
    if view is None:
        if not v.signed_in:
            raise WebError.sign_in(request)
        raise WebError.not_found(f"Repository {full_name}")
    return view


def is_index(t: TagLifetime) -> bool:
    return t.media_type in mt.INDEXES


def routes(rt: Runtime) -> list[BaseRoute]:
    def registry_host(request: Request) -> str:
        return rt.settings.SERVER_HOSTNAME or request.headers.get("host") or "localhost"

    async def show(request: Request) -> Response:
        v = await visitor(rt, request)
        full_name = request.path_params["repository"].rstrip("/")
        view = await find(rt, request, v, full_name)
        tab = request.query_params.get("tab", "info")
        if tab not in TABS:
            tab = "info"
        repo = view.repo
        page_no = max(1, _int(request.query_params.get("page"), 1))

        def read(db: Db) -> dict[str, Any]:
            out: dict[str, Any] = {"description": repositories.description(db, repo.id)}
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
        page = RepositoryPage(view, f"{repo.namespace}/{repo.name}", registry_host(request))
        return render.page(
            request, f"repository/{tab}.html", page=page, tab=tab, page_no=page_no, is_index=is_index, **found
        )

    return [Route("/repository/{repository:path}", show, methods=["GET"])]


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default

"""The home page (repositories I can see, starred, public, search) and creating a repository."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import accounts, orgs, provision, repositories, stars
from wharf.core.accounts import AccountRecord
from wharf.core.errors import AlreadyExists
from wharf.core.repositories import RepositorySummary
from wharf.db.engine import Db
from wharf.oci.names import is_valid_repository_name
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.session import Visitor, read_form, signed_in, visitor

LIST_LIMIT = 200
DESCRIPTION_MAX = 256 * 1024


@dataclass(frozen=True, slots=True)
class Listed:
    repo: RepositorySummary
    starred: bool
    modified_ms: int | None


def _listed(db: Db, who: Visitor, found: list[RepositorySummary]) -> list[Listed]:
    ids = [r.id for r in found]
    mine = stars.starred_among(db, who.identity.account_id, ids)
    modified = repositories.last_modified(db, ids)
    return [Listed(r, r.id in mine, modified.get(r.id)) for r in found]


def creatable_namespaces(db: Db, who: Visitor) -> list[str]:
    """The visitor's own namespace, then the organizations they may create repositories in."""
    names = [who.name] if who.name else []
    if who.identity.account_id is None:
        return names
    for org, _roles in orgs.of_member(db, who.identity.account_id):
        if permissions.can_create_in(db, who.identity, org):
            names.append(org.name)
    return names


async def home(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    query = request.query_params.get("q", "").strip()[:255]
    visible = permissions.visible_repositories(v.identity, rt.settings)
    public = permissions.may_read_public(v.identity, rt.settings)

    def read(db: Db) -> dict[str, Any]:
        if query:
            found = repositories.search(
                db, visible=visible, include_public=public, query=query, offset=0, limit=LIST_LIMIT
            )
            return {"results": _listed(db, v, found)}
        out: dict[str, Any] = {}
        if v.signed_in:
            mine = repositories.listing(db, visible=visible, include_public=False, limit=LIST_LIMIT)
            starred = repositories.listing(
                db,
                visible=visible,
                include_public=public,
                starred_by=v.identity.account_id,
                limit=LIST_LIMIT,
            )
            assert v.identity.account_id is not None
            out["mine"] = _listed(db, v, mine)
            out["starred"] = _listed(db, v, starred)
            out["organizations"] = [o for o, _ in orgs.of_member(db, v.identity.account_id)]
        if public:
            only_public = repositories.public_listing(db, limit=LIST_LIMIT)
            out["public"] = _listed(db, v, only_public)
        return out

    found = await rt.db.read(read)
    return render.page(request, "home.html", query=query, registry_host=rt.settings.public_host, **found)


async def new_repository_page(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    namespaces = await rt.db.read(creatable_namespaces, v)
    chosen = request.query_params.get("namespace") or (namespaces[0] if namespaces else "")
    return render.page(
        request,
        "new_repository.html",
        namespaces=namespaces,
        form={"namespace": chosen, "name": "", "visibility": "private", "description": ""},
        error=None,
    )


async def create_repository(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    namespaces = await rt.db.read(creatable_namespaces, v)
    namespace, name = form.get("namespace", ""), form.get("name", "").strip()
    visibility = form.get("visibility", "private")
    description = form.get("description", "")

    def again(message: str, status: int = 400) -> Response:
        return render.page(
            request, "new_repository.html", status=status, namespaces=namespaces, form=form, error=message
        )

    if namespace not in namespaces:
        return again(f"You may not create repositories in {namespace!r}: choose one of the list.", 403)
    if visibility not in ("public", "private"):
        return again("Choose public or private.")
    if len(description) > DESCRIPTION_MAX:
        return again("The description is longer than 256 KiB.")
    if not is_valid_repository_name(f"{namespace}/{name}"):
        return again(
            "That name is not valid: use lowercase letters, digits and . _ - separators, and / "
            "between components (for example team/app-server)."
        )

    def create(db: Db) -> None:
        ns: AccountRecord | None = accounts.get_by_name(db, namespace)
        if not permissions.can_create_in(db, v.identity, ns):
            raise WebError.forbidden(f"You may not create repositories in {namespace}.")
        repo = provision.create_repository(
            db,
            namespace,
            name,
            visibility=visibility,
            creator_id=v.identity.account_id,
            actor=v.actor,
        )
        if description:
            repositories.describe_new(db, repo, description)

    try:
        await rt.db.write(create)
    except AlreadyExists:
        return again(f"{namespace}/{name} already exists: pick another name.", 409)
    return RedirectResponse(f"/repository/{namespace}/{name}", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/repository/", home, methods=["GET"]),
    Route("/new/", new_repository_page, methods=["GET"]),
    Route("/new/", create_repository, methods=["POST"]),
]

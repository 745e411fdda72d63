"""The home page (the repositories I can see, starred, public; search) and creating a repository."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import orgs
from wharf.core.errors import AlreadyExists
from wharf.oci.names import is_valid_repository_name
from wharf.services import repositories as repository_service
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.pages import _repo_list
from wharf.web.session import read_form, signed_in, visitor

DESCRIPTION_MAX = 256 * 1024

SCOPE_LABELS = {
    "mine": "Yours",
    "starred": "Starred",
    "public": "Public",
    "readable": "All you can read",
}
HEADINGS = {
    "mine": "Your repositories",
    "starred": "Starred repositories",
    "public": "Public repositories",
    "readable": "Repositories you can read",
}


def _scope(request: Request, signed_in: bool) -> str:
    """The list asked for; by default a signed-in visitor sees theirs, a search (the header's box,
    `q` without `show`) everything readable, and an anonymous visitor the public repositories."""
    asked = request.query_params.get("show", "")
    if asked in SCOPE_LABELS and (signed_in or asked in ("public", "readable")):
        return asked
    if not signed_in:
        return "public"
    return "readable" if request.query_params.get("q", "").strip() else "mine"


async def home(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    scope = _scope(request, v.signed_in)
    listed = await _repo_list.read(request, v, action="/", scope=scope, keep={"show": scope})
    organizations = (
        [o for o, _ in await rt.db.read(orgs.of_member, v.identity.account_id)]
        if v.signed_in and v.identity.account_id is not None
        else []
    )
    return render.page(
        request,
        "home.html",
        lst=listed,
        scope=scope,
        scopes=SCOPE_LABELS,
        heading=HEADINGS[scope],
        may_read_public=permissions.may_read_public(v.identity, rt.settings),
        organizations=organizations,
        registry_host=rt.settings.public_host,
    )


async def new_repository_page(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    namespaces = await repository_service.creatable_namespaces(rt, v.identity)
    chosen = request.query_params.get("namespace") or (namespaces[0] if namespaces else "")
    return render.page(
        request,
        "new_repository.html",
        namespaces=namespaces,
        form={"namespace": chosen, "name": "", "visibility": "private", "description": ""},
    )


async def create_repository(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    namespaces = await repository_service.creatable_namespaces(rt, v.identity)
    namespace, name = form.get("namespace", ""), form.get("name", "").strip()
    visibility = form.get("visibility", "private")
    description = form.get("description", "")
    if namespace not in namespaces:
        raise WebError.forbidden(f"You may not create repositories in {namespace!r}: choose one of the list.")
    if visibility not in ("public", "private"):
        raise FormError("/new/", visibility="Choose public or private.")
    if len(description) > DESCRIPTION_MAX:
        raise FormError("/new/", description="The description is longer than 256 KiB: shorten it.")
    if not is_valid_repository_name(f"{namespace}/{name}"):
        raise FormError("/new/", name=f"{name[:100]!r} is not a valid name. {forms.REPOSITORY_SYNTAX}")
    # `namespaces` are those the visitor may create in, read just above (as /api/v1 checks).
    try:
        await repository_service.create(
            rt,
            namespace,
            name,
            visibility=visibility,
            description=description or None,
            creator_id=v.identity.account_id,
            by=v.actor,
        )
    except AlreadyExists:
        raise FormError(
            "/new/", name=f"{namespace}/{name} already exists: pick another name, or open it.", status=409
        ) from None
    return RedirectResponse(f"/repository/{namespace}/{name}", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/repository/", home, methods=["GET"]),
    Route("/new/", new_repository_page, methods=["GET"]),
    Route("/new/", create_repository, methods=["POST"]),
]

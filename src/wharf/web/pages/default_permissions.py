"""An organization's default permissions (Quay's "prototypes"): the roles a new repository gives
from its creation. The Default permissions tab's content and its forms, for administrators."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import prototypes
from wharf.runtime import Runtime
from wharf.services import default_permissions as default_permission_service
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.forms import SUMMARY, FormError
from wharf.web.session import read_form

ADVICE = {
    "user": "Users by their username, robots as organization+name.",
    "activating": "Type the username of the person whose new repositories get the role, or leave it empty.",
    "role": "Choose read, write or admin.",
}


async def read_tab(rt: Runtime, ns: NamespacePage) -> dict[str, Any]:
    """The Default permissions tab's content."""
    found = await default_permission_service.of_org(rt, ns.account)
    return {"prototypes": found.prototypes, "teams": found.teams}


async def create_prototype(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    kind = form.get("delegate_kind", "")
    delegate = form.get("team" if kind == "team" else "user", "").strip()
    activating = form.get("activating", "").strip() or None
    here = f"/organization/{ns.name}?tab=defaultperms"
    if not delegate:
        field = "team" if kind == "team" else "user"
        raise FormError(
            here,
            {field: "Whom should the permission go to? Choose a team, or enter a user or robot name."},
        )
    # A robot of another namespace is refused without a field: it is about the user or robot typed.
    with forms.refusing(here, {SUMMARY: "user"} if kind == "user" else None, advice=ADVICE):
        await rt.db.write(
            prototypes.create_named,
            ns.account,
            form.get("role", ""),
            delegate_kind=kind,
            delegate_name=delegate,
            activating_name=activating,
            actor=v.actor,
        )
    return render.redirect(
        here,
        f"New repositories{f' created by {activating}' if activating else ''} will give "
        f"{delegate} the {form.get('role')} role.",
    )


async def change_prototype(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    prototype_id, action = request.path_params["id"], request.path_params["action"]
    back = f"/organization/{ns.name}?tab=defaultperms"
    if action == "role":
        with forms.refusing(back, advice=ADVICE):
            await rt.db.write(prototypes.change_role, ns.account, prototype_id, form.get("role", ""), v.actor)
        return render.redirect(back, f"The default permission now gives the {form.get('role')} role.")
    if action == "delete":
        await rt.db.write(prototypes.delete_prototype, ns.account, prototype_id, v.actor)
        return render.redirect(
            back, "Deleted the default permission. Existing repositories keep their roles."
        )
    raise WebError.not_found("This action")


ROUTES: list[BaseRoute] = [
    Route("/organization/{org:str}/defaultperms/new", create_prototype, methods=["POST"]),
    Route("/organization/{org:str}/defaultperms/{id:str}/{action:str}", change_prototype, methods=["POST"]),
]

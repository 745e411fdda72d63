"""An organization's OAuth applications: the Applications tab's content, an application's page
(/organization/<org>/applications/<client_id>) with its client secret and tokens, and the forms
that create, change and delete applications and mint and revoke their tokens. Administrators
only; the consent page that applications send people to is pages/oauth.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import applications, scopes, tokens
from wharf.core.applications import ApplicationRecord
from wharf.runtime import Runtime
from wharf.services import applications as application_service
from wharf.web import access, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.session import Visitor, read_form, read_form_lists

TOKEN_SCOPES = [(scope, about.title) for scope, about in scopes.DESCRIPTIONS.items()]


async def read_tab(rt: Runtime, ns: NamespacePage) -> dict[str, Any]:
    """The Applications tab's content."""
    return {"apps": await rt.db.read(applications.list_for_org, ns.account.id)}


async def _app(rt: Runtime, ns: NamespacePage, client_id: str) -> ApplicationRecord:
    app = await rt.db.read(applications.get, client_id)
    if app is None or app.org_id != ns.account.id:
        raise WebError.not_found(f"Application {client_id} of {ns.name}")
    return app


def _app_fields(form: dict[str, str]) -> dict[str, Any]:
    fields = {k: form.get(k, "").strip() for k in ("name", "redirect_uri", "application_uri", "description")}
    if not fields["name"] or len(fields["name"]) > 255:
        raise WebError(400, "The application needs a name", "Enter a name of at most 255 characters.")
    if len(fields["redirect_uri"]) > 2048 or len(fields["application_uri"]) > 2048:
        raise WebError(400, "An address is too long", "Addresses may be at most 2048 characters.")
    if len(fields["description"]) > 4096:
        raise WebError(400, "The description is too long", "Keep it under 4096 characters.")
    return fields


async def create_app(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    fields = _app_fields(await read_form(rt, request))
    app = await rt.db.write(applications.create, rt.secrets, ns.account, **fields, actor=v.actor)
    return render.redirect(
        f"/organization/{ns.name}/applications/{app.client_id}",
        f"Created application {app.name}. Its client ID and secret are below.",
    )


async def app_page(request: Request) -> Response:
    rt = access.runtime(request)
    _v, ns = await access.admined_organization(request)
    app = await _app(rt, ns, request.path_params["client_id"])
    return await _render_app(request, ns, app, new_token=None)


async def _render_app(
    request: Request, ns: NamespacePage, app: ApplicationRecord, new_token: str | None, status: int = 200
) -> Response:
    rt = access.runtime(request)
    listed = await rt.db.read(tokens.list_for_application, app.id)
    return render.page(
        request,
        "organization/application.html",
        status=status,
        ns=ns,
        app=app,
        secret=applications.secret(rt.secrets, app),
        tokens=listed,
        scopes=TOKEN_SCOPES,
        new_token=new_token,
    )


@dataclass(frozen=True, slots=True)
class _Change:
    """A form posted to /organization/<org>/applications/<client_id>/<action>."""

    request: Request
    rt: Runtime
    v: Visitor
    ns: NamespacePage
    app: ApplicationRecord
    form: dict[str, str]
    """The last value of each field; `lists` has them all (the scopes of a token)."""
    lists: dict[str, list[str]]

    @property
    def back(self) -> str:
        return f"/organization/{self.ns.name}/applications/{self.app.client_id}"


async def _update(c: _Change) -> Response:
    fields = _app_fields(c.form)
    await c.rt.db.write(applications.update_app, c.app, **fields, avatar_email=None, actor=c.v.actor)
    return render.redirect(c.back, f"Saved application {fields['name']}.")


async def _reset_secret(c: _Change) -> Response:
    await c.rt.db.write(applications.reset_secret, c.rt.secrets, c.app, c.v.actor)
    return render.redirect(c.back, "The application has a new client secret; the old one no longer works.")


async def _delete(c: _Change) -> Response:
    await c.rt.db.write(applications.delete_app, c.app, c.v.actor)
    return render.redirect(
        f"/organization/{c.ns.name}?tab=applications",
        f"Deleted application {c.app.name} and every token issued for it.",
    )


async def _mint_token(c: _Change) -> Response:
    title = c.form.get("title", "").strip() or c.app.name
    if len(title) > 255:
        raise WebError(400, "The token's name is too long", "Keep it under 255 characters.")
    secret, _info = await application_service.mint_token(
        c.rt,
        c.app,
        c.v.identity,
        " ".join(c.lists.get("scope", [])),
        title=title,
        lifetime_ms=None,
        actor=c.v.actor,
    )
    # The token exists only in this answer: it is stored hashed, so it is shown, not redirected.
    return await _render_app(c.request, c.ns, c.app, new_token=secret, status=201)


async def _revoke(c: _Change) -> Response:
    token_uuid = c.form.get("token", "")
    if not await c.rt.db.write(tokens.revoke, c.app.id, token_uuid, c.v.actor):
        raise WebError.not_found("This token")
    return render.redirect(c.back, "Revoked the token: it no longer works.")


_ACTIONS: dict[str, Callable[[_Change], Awaitable[Response]]] = {
    "update": _update,
    "reset-secret": _reset_secret,
    "delete": _delete,
    "token": _mint_token,
    "revoke": _revoke,
}


async def change_app(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    lists = await read_form_lists(rt, request)
    form = {k: vs[-1] for k, vs in lists.items()}
    app = await _app(rt, ns, request.path_params["client_id"])
    action = _ACTIONS.get(request.path_params["action"])
    if action is None:
        raise WebError.not_found("This action")
    return await action(_Change(request, rt, v, ns, app, form, lists))


ROUTES: list[BaseRoute] = [
    Route("/organization/{org:str}/applications/new", create_app, methods=["POST"]),
    Route("/organization/{org:str}/applications/{client_id:str}", app_page, methods=["GET"]),
    Route("/organization/{org:str}/applications/{client_id:str}/{action:str}", change_app, methods=["POST"]),
]

"""An organization's OAuth applications: the Applications tab's content, an application's page
(/organization/<org>/applications/<client_id>) with its client secret and tokens, and the forms
that create, change and delete applications and mint and revoke their tokens. Administrators
only; the consent page that applications send people to is pages/oauth.py."""

from __future__ import annotations

import contextlib
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
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.forms import FormError
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


URL_ADVICE = "Addresses: http:// or https:// followed by a host name, up to 2048 characters, or nothing."
REDIRECT_ADVICE = (
    "The redirect address is where people come back after allowing the application, like "
    "https://ci.example.com/oauth/callback: a plain host name, no user name or #fragment."
)


def _app_fields(form: dict[str, str], page: str) -> dict[str, Any]:
    """The application's fields from its form; a mistake is shown next to its field on `page`."""
    fields = {k: form.get(k, "").strip() for k in ("name", "redirect_uri", "application_uri", "description")}
    wrong: dict[str, str] = {}
    if not fields["name"] or len(fields["name"]) > 255:
        wrong["name"] = "The application needs a name of 1 to 255 characters."
    for name in ("application_uri", "redirect_uri"):
        if len(fields[name]) > 2048:
            wrong[name] = f"This address has {len(fields[name])} characters. {URL_ADVICE}"
    if len(fields["description"]) > 4096:
        wrong["description"] = "The description is longer than 4096 characters: shorten it."
    if wrong:
        raise FormError(page, wrong)
    return fields


def _checked(page: str) -> contextlib.AbstractContextManager[None]:
    """Core's checks of the addresses (applications._check), next to the address they are about."""
    return forms.refusing(page, advice={"application_uri": URL_ADVICE, "redirect_uri": REDIRECT_ADVICE})


async def create_app(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    here = f"/organization/{ns.name}?tab=applications"
    fields = _app_fields(await read_form(rt, request), here)
    with _checked(here):
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
    fields = _app_fields(c.form, c.back)
    with _checked(c.back):
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
        raise FormError(c.back, title="The token's name is longer than 255 characters: shorten it.")
    with forms.refusing(c.back, advice={"scope": "Tick at least one of the scopes below."}):
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

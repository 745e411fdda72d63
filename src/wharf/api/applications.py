"""/api/v1/organization/{org}/applications: OAuth applications and the tokens minted for them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.access import AdminOrg
from wharf.api.deps import Caller, Rt, User, actor
from wharf.api.errors import not_found
from wharf.auth import permissions
from wharf.core import accounts, applications, tokens
from wharf.core.accounts import AccountRecord
from wharf.core.applications import ApplicationRecord
from wharf.runtime import Runtime
from wharf.services import applications as application_service

router = APIRouter(tags=["organization"])


class NewApp(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    redirect_uri: str = Field(default="", max_length=2048)
    application_uri: str = Field(default="", max_length=2048)
    description: str = Field(default="", max_length=4096)
    avatar_email: str | None = Field(default=None, max_length=255)


class UpdateApp(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    redirect_uri: str = Field(max_length=2048)
    application_uri: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=4096)
    avatar_email: str | None = Field(default=None, max_length=255)


class NewAppToken(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    scope: str = Field(min_length=1, max_length=255, description="Space-separated OAuth scopes.")
    expiration: int | None = Field(
        default=None, ge=1, description="Lifetime in seconds; none means no expiry."
    )


def _view(rt: Runtime, app: ApplicationRecord, with_secret: bool = True) -> dict[str, Any]:
    return {
        "name": app.name,
        "description": app.description,
        "application_uri": app.application_uri,
        "client_id": app.client_id,
        "client_secret": applications.secret(rt.secrets, app) if with_secret else None,
        "redirect_uri": app.redirect_uri,
        "avatar_email": app.avatar_email,
    }


async def _app(rt: Rt, org: AccountRecord, client_id: str) -> ApplicationRecord:
    app = await rt.db.read(applications.get, client_id)
    if app is None or app.org_id != org.id:
        raise not_found(f"no application {client_id!r} in {org.name}")
    return app


@router.get(
    "/organization/{orgname}/applications",
    operation_id="getOrganizationApplications",
    summary="List an organization's OAuth applications",
)
async def get_organization_applications(rt: Rt, org: AdminOrg, who: User, orgname: str) -> dict[str, Any]:
    secret = await rt.db.read(permissions.may_see_org_secrets, who, org)
    found = await rt.db.read(applications.list_for_org, org.id)
    return {"applications": [_view(rt, a, secret) for a in found]}


@router.post(
    "/organization/{orgname}/applications",
    operation_id="createOrganizationApplication",
    summary="Create an OAuth application",
)
async def create_organization_application(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: NewApp
) -> dict[str, Any]:
    app = await rt.db.write(
        applications.create,
        rt.secrets,
        org,
        name=body.name,
        description=body.description,
        application_uri=body.application_uri,
        redirect_uri=body.redirect_uri,
        avatar_email=body.avatar_email,
        actor=actor(who),
    )
    return _view(rt, app)


@router.get(
    "/organization/{orgname}/applications/{client_id}",
    operation_id="getOrganizationApplication",
    summary="Get an OAuth application",
)
async def get_organization_application(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str
) -> dict[str, Any]:
    secret = await rt.db.read(permissions.may_see_org_secrets, who, org)
    return _view(rt, await _app(rt, org, client_id), secret)


@router.put(
    "/organization/{orgname}/applications/{client_id}",
    operation_id="updateOrganizationApplication",
    summary="Change an OAuth application",
)
async def update_organization_application(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str, body: UpdateApp
) -> dict[str, Any]:
    app = await _app(rt, org, client_id)
    updated = await rt.db.write(
        applications.update_app,
        app,
        name=body.name,
        redirect_uri=body.redirect_uri,
        application_uri=body.application_uri,
        description=body.description,
        avatar_email=body.avatar_email,
        actor=actor(who),
    )
    return _view(rt, updated)


@router.delete(
    "/organization/{orgname}/applications/{client_id}",
    operation_id="deleteOrganizationApplication",
    summary="Delete an OAuth application and every token minted for it",
    status_code=204,
)
async def delete_organization_application(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str
) -> Response:
    await rt.db.write(applications.delete_app, await _app(rt, org, client_id), actor(who))
    return Response(status_code=204)


@router.post(
    "/organization/{orgname}/applications/{client_id}/resetclientsecret",
    operation_id="resetOrganizationApplicationClientSecret",
    summary="Replace an application's client secret; the old one stops working at once",
)
async def reset_organization_application_client_secret(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str
) -> dict[str, Any]:
    app = await rt.db.write(applications.reset_secret, rt.secrets, await _app(rt, org, client_id), actor(who))
    return _view(rt, app)


def _token_view(t: tokens.TokenInfo) -> dict[str, Any]:
    return {
        "uuid": t.uuid,
        "title": t.title,
        "user": t.account_name,
        "scopes": sorted(t.scopes),
        "created": views.date(t.created_ms),
        "expiration": views.date(t.expires_ms),
    }


@router.get(
    "/organization/{orgname}/applications/{client_id}/tokens",
    operation_id="listOrganizationApplicationTokens",
    summary="List the live tokens minted for an application",
)
async def list_organization_application_tokens(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str
) -> dict[str, Any]:
    app = await _app(rt, org, client_id)
    return {"tokens": [_token_view(t) for t in await rt.db.read(tokens.list_for_application, app.id)]}


@router.post(
    "/organization/{orgname}/applications/{client_id}/tokens",
    operation_id="createOrganizationApplicationToken",
    summary="Mint a token for the application, acting as yourself, without the browser flow",
)
async def create_organization_application_token(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str, body: NewAppToken
) -> dict[str, Any]:
    app = await _app(rt, org, client_id)
    secret, info = await application_service.mint_token(
        rt,
        app,
        who,
        body.scope,
        title=body.name,
        lifetime_ms=body.expiration * 1000 if body.expiration else None,
        actor=actor(who),
    )
    return {**_token_view(info), "access_token": secret}


@router.delete(
    "/organization/{orgname}/applications/{client_id}/tokens/{token_uuid}",
    operation_id="deleteOrganizationApplicationToken",
    summary="Revoke a token minted for an application",
    status_code=204,
)
async def delete_organization_application_token(
    rt: Rt, org: AdminOrg, who: User, orgname: str, client_id: str, token_uuid: str
) -> Response:
    app = await _app(rt, org, client_id)
    if not await rt.db.write(tokens.revoke, app.id, token_uuid, actor(who)):
        raise not_found(f"no token {token_uuid!r} for this application")
    return Response(status_code=204)


@router.get(
    "/app/{client_id}",
    operation_id="getApplicationInformation",
    summary="Public information about an OAuth application",
    tags=["application"],
)
async def get_application_information(rt: Rt, who: Caller, client_id: str) -> dict[str, Any]:
    app = await rt.db.read(applications.get, client_id)
    if app is None:
        raise not_found(f"no application {client_id!r}")
    org = await rt.db.read(accounts.get_by_id, app.org_id)
    return {
        "name": app.name,
        "description": app.description,
        "uri": app.application_uri,
        "avatar": views.avatar(app.name, app.avatar_email, "app"),
        "organization": views.avatar(org.name, org.email, "org") if org else None,
    }

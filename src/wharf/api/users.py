"""/api/v1/user/ and /api/v1/users/{username}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.access import own_account
from wharf.api.deps import FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, durations, scopes
from wharf.core.accounts import AccountRecord
from wharf.services import accounts as account_service
from wharf.services import external_login

router = APIRouter(tags=["user"])


@router.get("/user/", operation_id="getLoggedInUser", summary="Get the signed-in user")
async def get_logged_in_user(rt: Rt, who: User) -> dict[str, Any]:
    if not permissions.can_read_user(who):
        raise forbidden("the token lacks the user:read scope")
    assert who.name is not None
    account = await rt.db.read(accounts.get_by_name, who.name)
    if account is None:
        raise not_found("the signed-in user no longer exists")
    return await _own_view(rt, account)


@router.get("/users/{username}", operation_id="getUserInformation", summary="Get a user's public information")
async def get_user_information(rt: Rt, username: str) -> dict[str, Any]:
    account = await rt.db.read(accounts.get_by_name, username)
    if account is None or account.kind != "user":
        raise not_found(f"no user named {username!r}")
    return views.public_user(rt, account)


class NewUser(BaseModel):
    username: str = Field(max_length=255)
    password: str = Field(max_length=1024)
    email: str | None = Field(default=None, max_length=255)


class InitializeUser(NewUser):
    access_token: bool = False


class UpdateUser(BaseModel):
    password: str | None = Field(default=None, max_length=1024)
    email: str | None = Field(default=None, max_length=255)
    tag_expiration_s: int | None = Field(default=None, ge=0)
    username: str | None = Field(default=None, max_length=255)
    """Quay's confirm_username prompt: keep (the same name) or change the name Wharf chose at the
    first external sign-in. Only then: accounts are not renamed otherwise."""


@router.post("/user/", operation_id="createNewUser", summary="Sign up")
async def create_new_user(rt: Rt, body: NewUser) -> dict[str, Any]:
    if rt.settings.AUTHENTICATION_TYPE != "Database":
        # As Quay: no sign-up when users come from elsewhere (404); their first sign-in makes the account.
        raise not_found(
            f"sign-up is off while AUTHENTICATION_TYPE is {rt.settings.AUTHENTICATION_TYPE}: "
            "sign in with your directory account, which makes your Wharf account"
        )
    if not rt.settings.FEATURE_USER_CREATION:
        raise forbidden("sign-up is disabled on this registry (FEATURE_USER_CREATION); ask a superuser")
    await rt.db.write(accounts.create_user, body.username, body.password, body.email)
    return {"awaiting_verification": False}


@router.post(
    "/user/initialize",
    operation_id="initializeUser",
    summary="Create the first user (a superuser) on an empty registry",
)
async def initialize_user(rt: Rt, body: InitializeUser) -> dict[str, Any]:
    if not rt.settings.FEATURE_USER_INITIALIZE:
        raise not_found("user initialization is disabled (FEATURE_USER_INITIALIZE)")

    account, token = await account_service.initialize_first_user(
        rt, body.username, body.password, body.email, scopes.ALL if body.access_token else None
    )
    out: dict[str, Any] = {"username": account.name, "email": account.email, "encrypted_password": None}
    if token is not None:
        out["access_token"] = token
    return out


@router.put(
    "/user/",
    operation_id="changeUserDetails",
    dependencies=[FreshLogin],
    summary="Change your e-mail or password",
)
async def change_user_details(rt: Rt, who: User, body: UpdateUser) -> dict[str, Any]:
    account = await _me(rt, who)
    if body.username is not None and (
        body.username != account.name or await external_login.name_to_confirm(rt, account.id)
    ):
        account = await external_login.confirm_username(rt, account.id, body.username, actor(who))
    if body.password is not None and rt.settings.AUTHENTICATION_TYPE != "Database":
        raise invalid_request(
            f"passwords are the directory's while AUTHENTICATION_TYPE is {rt.settings.AUTHENTICATION_TYPE}: "
            "change yours there"
        )
    if body.tag_expiration_s is not None:
        durations.check_option(body.tag_expiration_s, rt.settings.TAG_EXPIRATION_OPTIONS)
        account = await rt.db.write(accounts.set_tag_expiration, account, body.tag_expiration_s, actor(who))
    updated = await rt.db.write(
        accounts.update_user, account, email=body.email, password=body.password, actor=actor(who)
    )
    return await _own_view(rt, updated)


async def _own_view(rt: Rt, account: AccountRecord) -> dict[str, Any]:
    memberships, has_password = await account_service.own_profile(rt, account)
    orgs_ = [
        {
            "name": org.name,
            "avatar": views.avatar(org.name, org.email, "org"),
            "is_org_admin": "admin" in roles,
            "can_create_repo": bool({"admin", "creator"} & roles),
            "public": False,
            "preferred_namespace": False,
        }
        for org, roles in memberships
    ]
    view = views.own_user(rt, account, orgs_, has_password)
    if await external_login.name_to_confirm(rt, account.id):
        view["prompts"] = ["confirm_username"]
    # As Quay lists the account's FederatedLogins (LDAP, OIDC providers).
    view["logins"] = [
        {"service": service, "service_identifier": ident, "metadata": {}}
        for service, ident in sorted((await external_login.idents(rt, account.id)).items())
    ]
    return view


@router.delete(
    "/user/",
    operation_id="deleteCurrentUser",
    dependencies=[FreshLogin],
    summary="Delete your account",
    status_code=204,
)
async def delete_current_user(rt: Rt, who: User) -> Response:
    account = await _me(rt, who)
    if views.is_superuser(rt, account):
        raise invalid_request("superusers cannot delete themselves; another superuser can")
    await account_service.delete_user(rt, account, actor(who))
    return Response(status_code=204)


async def _me(rt: Rt, who: Identity) -> AccountRecord:
    account = await own_account(rt, who)
    if account is None:
        raise not_found("the signed-in user no longer exists")
    return account

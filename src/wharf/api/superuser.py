"""/api/v1/superuser/users/...: what superusers do to accounts."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

import wharf
from wharf.api import views
from wharf.api.access import Superuser, SuperuserReader, organization
from wharf.api.deps import FreshLogin, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.api.organizations import UpdateOrg, apply_org_update
from wharf.auth import permissions
from wharf.core import accounts, apptokens, blobs, clock, orgs
from wharf.core.accounts import AccountRecord
from wharf.services import accounts as account_service
from wharf.services import superuser as superuser_service

router = APIRouter(prefix="/superuser", tags=["superuser"])


class CreateInstallUser(BaseModel):
    username: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=255)


class UpdateUser(BaseModel):
    password: str | None = Field(default=None, max_length=1024)
    email: str | None = Field(default=None, max_length=255)
    enabled: bool | None = None


async def _user(rt: Rt, username: str) -> AccountRecord:
    account = await rt.db.read(accounts.get_by_name, username)
    if account is None or account.kind != "user":
        raise not_found(f"no user named {username!r}")
    return account


@router.get("/users/", operation_id="listAllUsers", dependencies=[FreshLogin], summary="List every user")
async def list_all_users(rt: Rt, who: SuperuserReader, disabled: bool = True) -> dict[str, Any]:
    users = await rt.db.read(accounts.list_users, include_disabled=disabled)
    return {"users": [views.superuser_user(rt, u) for u in users]}


@router.post(
    "/users/",
    operation_id="createInstallUser",
    dependencies=[FreshLogin],
    summary="Create a user with a generated password",
)
async def create_install_user(rt: Rt, who: Superuser, body: CreateInstallUser) -> dict[str, Any]:
    if rt.settings.AUTHENTICATION_TYPE != "Database":
        raise invalid_request(
            f"cannot create a user while AUTHENTICATION_TYPE is {rt.settings.AUTHENTICATION_TYPE}: "
            "users come from the directory, and their first sign-in makes the account"
        )
    password = secrets.token_urlsafe(18)
    account = await rt.db.write(accounts.create_user, body.username, password, body.email, actor=actor(who))
    return {
        "username": account.name,
        "email": account.email,
        "password": password,
        "encrypted_password": None,
    }


@router.get(
    "/users/{username}", operation_id="getInstallUser", dependencies=[FreshLogin], summary="Get a user"
)
async def get_install_user(rt: Rt, who: SuperuserReader, username: str) -> dict[str, Any]:
    return views.superuser_user(rt, await _user(rt, username))


@router.put(
    "/users/{username}",
    operation_id="changeInstallUser",
    dependencies=[FreshLogin],
    summary="Change a user's e-mail, password or state",
)
async def change_install_user(rt: Rt, who: Superuser, username: str, body: UpdateUser) -> dict[str, Any]:
    account = await _user(rt, username)
    if rt.settings.AUTHENTICATION_TYPE != "Database" and (
        body.password is not None or body.email is not None
    ):
        # As Quay: the directory keeps passwords and e-mail addresses (brought in step at each sign-in).
        raise invalid_request(
            f"cannot change a password or e-mail address while AUTHENTICATION_TYPE is "
            f"{rt.settings.AUTHENTICATION_TYPE}: change it in the directory"
        )
    if body.enabled is False and (
        why := permissions.why_superuser_may_not(rt.settings, who, account, "disable")
    ):
        raise invalid_request(why)
    updated = await rt.db.write(
        accounts.update_user,
        account,
        email=body.email,
        password=body.password,
        enabled=body.enabled,
        actor=actor(who),
    )
    return views.superuser_user(rt, updated)


@router.delete(
    "/users/{username}",
    operation_id="deleteInstallUser",
    dependencies=[FreshLogin],
    summary="Delete a user",
    status_code=204,
)
async def delete_install_user(rt: Rt, who: Superuser, username: str) -> Response:
    account = await _user(rt, username)
    if why := permissions.why_superuser_may_not(rt.settings, who, account, "delete"):
        raise forbidden(why)
    await account_service.delete_user(rt, account, actor(who))
    return Response(status_code=204)


def _org_view(rt: Rt, org: AccountRecord) -> dict[str, Any]:
    return {
        "name": org.name,
        "email": org.email,
        "avatar": views.avatar(org.name, org.email, "org"),
        "tag_expiration_s": views.tag_expiration_s(rt, org),
    }


@router.get(
    "/organizations/",
    operation_id="listAllOrganizations",
    dependencies=[FreshLogin],
    summary="List every organization",
)
async def list_all_organizations(rt: Rt, who: SuperuserReader) -> dict[str, Any]:
    return {"organizations": [_org_view(rt, o) for o in await rt.db.read(orgs.list_orgs)]}


@router.put(
    "/organizations/{name}",
    operation_id="changeOrganization",
    dependencies=[FreshLogin],
    summary="Change any organization's details",
)
async def change_organization(rt: Rt, who: Superuser, name: str, body: UpdateOrg) -> dict[str, Any]:
    org = await apply_org_update(rt, who, await organization(rt, name), body)
    return _org_view(rt, org)


@router.delete(
    "/organizations/{name}",
    operation_id="deleteOrganization",
    dependencies=[FreshLogin],
    summary="Delete any organization",
    status_code=204,
)
async def delete_organization(rt: Rt, who: Superuser, name: str) -> Response:
    org = await organization(rt, name)
    await account_service.delete_org(rt, org, actor(who))
    return Response(status_code=204)


@router.post(
    "/takeownership/{namespace}",
    operation_id="takeOwnership",
    dependencies=[FreshLogin],
    summary="Become an owner of an organization; a user namespace is converted to an organization",
)
async def take_ownership(rt: Rt, who: Superuser, namespace: str) -> dict[str, Any]:
    target = await rt.db.read(accounts.get_by_name, namespace)
    if target is None or target.kind == "robot":
        raise not_found(f"no user or organization named {namespace!r}")
    if why := permissions.why_superuser_may_not(rt.settings, who, target, "take_ownership"):
        raise forbidden(why)
    assert who.account_id is not None
    await superuser_service.take_ownership(rt, target, who.account_id, actor(who))
    return {"namespace": namespace}


# ---- what the superuser panel reads about the registry itself ----

# Keys whose values are secrets, wherever they appear in the settings (Quay's list, and any key
# naming a password, secret, token or key).
_SECRET_WORDS = ("password", "passwd", "secret", "token", "_key", "access_key", "db_uri", "psk", "credential")
_REDACTED = "**********"
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in _SECRET_WORDS) or k in ("key", "dsn")


def redact(value: Any, key: str | None = None) -> Any:
    """The settings with every secret replaced: values under secret-looking keys, and the
    user:password part of any URL."""
    secret_value = isinstance(value, str | list | dict) and bool(value)  # numbers are lifetimes, not secrets
    if key is not None and _is_secret_key(key) and secret_value:
        return _REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _URL_USERINFO.sub(_REDACTED + "@", value)
    return value


@router.get(
    "/registrystatus",
    operation_id="scRegistryStatus",
    summary="Whether the registry is set up and serving (as Quay answers, to anyone)",
)
async def registry_status(rt: Rt) -> dict[str, Any]:
    return {"provider_id": "wharf", "status": "ready"}


# Quay's SuperUserDumpConfig has no operation id and is not in its Swagger document; neither here.
@router.get(
    "/config",
    operation_id="getSuperUserConfig",
    dependencies=[FreshLogin],
    summary="The running configuration, with every secret replaced by asterisks",
    include_in_schema=False,
)
async def dump_config(rt: Rt, who: SuperuserReader) -> dict[str, Any]:
    config = redact(rt.settings.model_dump(mode="json"))
    # Quay also dumps the process environment; Wharf never does (it holds secrets).
    return {"config": config, "warning": {}, "env": {}, "schema": {}}


@router.get(
    "/changelog/",
    operation_id="getChangeLog",
    dependencies=[FreshLogin],
    summary="What changed in this version of Wharf",
)
async def get_change_log(rt: Rt, who: SuperuserReader) -> dict[str, Any]:
    return {"log": f"# Wharf {wharf.__version__}\n\n{_CHANGELOG}"}


_CHANGELOG = "Release notes are published with each release of Wharf; this build is the version above.\n"


@router.get(
    "/registrysize/",
    operation_id="getRegistrySize",
    dependencies=[FreshLogin],
    summary="Bytes of all stored blobs, each counted once",
)
async def get_registry_size(rt: Rt, who: SuperuserReader) -> dict[str, Any]:
    size = await rt.db.read(blobs.total_size)
    # Wharf sums the blobs table when asked, so there is never a calculation queued or running.
    return {"size_bytes": size, "last_ran": clock.now_ms(), "queued": False, "running": False}


@router.post(
    "/registrysize/",
    operation_id="queueRegistrySizeCalculation",
    dependencies=[FreshLogin],
    summary="Recalculate the registry's size (Wharf computes it on every read: nothing to queue)",
    status_code=201,
)
async def queue_registry_size_calculation(rt: Rt, who: Superuser) -> Response:
    return Response(status_code=201)


# Quay's default APP_SPECIFIC_TOKEN_EXPIRATION window is four weeks; "expiring" means within its tenth.
_EXPIRING_SOON_MS = 4 * 7 * 24 * 3600 * 1000 // 10


@router.get(
    "/apptokens",
    operation_id="listAllAppTokens",
    dependencies=[FreshLogin],
    summary="Every user's app-specific tokens (never their secrets), for auditing",
)
async def list_all_app_tokens(rt: Rt, who: User, expiring: bool = False) -> dict[str, Any]:
    # As on Quay: global read-only superusers, and superusers with full access.
    if not permissions.reads_everything(who):
        raise forbidden("global read-only superusers and superusers with full access only")
    found = await rt.db.read(apptokens.list_all, clock.now_ms() + _EXPIRING_SOON_MS if expiring else None)
    return {
        "tokens": [
            {
                "uuid": t.uuid,
                "title": t.title,
                "owner": owner,
                "last_accessed": views.date(t.last_used_ms),
                "created": views.date(t.created_ms),
                "expiration": views.date(t.expires_ms),
            }
            for owner, t in found
        ],
        "only_expiring": expiring,
    }

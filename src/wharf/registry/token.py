"""GET /v2/auth: the Docker Registry v2 token endpoint.

Credentials come as HTTP Basic; each requested scope is decided by the permission resolver and
down-scoped silently to what the caller may do, as Docker clients expect.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from wharf.auth import credentials, permissions
from wharf.auth.address import client_address
from wharf.auth.identity import ANONYMOUS, Identity
from wharf.oci.names import RepositoryName, is_valid_repository_name
from wharf.registry.context import challenge, service_name
from wharf.registry.errors import BAD_PARAMETER, NAME_INVALID, TOO_MANY_REQUESTS, UNAUTHORIZED, RegistryError
from wharf.runtime import Runtime

_REPO_SCOPE = re.compile(r"^repository(?:\([a-z0-9]+\))?:(?P<name>[^:]+):(?P<actions>[a-z*]+(?:,[a-z*]+)*)$")
_KNOWN_ACTIONS = {"pull", "push", "*", "delete"}


def _unauthorized(rt: Runtime, request: Request, message: str) -> RegistryError:
    return RegistryError(UNAUTHORIZED, message, headers={"WWW-Authenticate": challenge(rt, request)})


async def _identity(rt: Runtime, request: Request, is_login: bool) -> Identity:
    creds = credentials.parse_basic(request.headers.get("authorization", ""))
    if creds is None:
        if request.headers.get("authorization"):
            raise _unauthorized(rt, request, "send credentials as HTTP Basic")
        return ANONYMOUS
    try:
        identity = await credentials.basic_login(
            rt,
            *creds,
            address=client_address(request, rt.settings.TRUSTED_PROXIES),
            audit_success=is_login,
        )
    except credentials.LoginThrottled as e:
        raise RegistryError(
            TOO_MANY_REQUESTS,
            f"{e}; wait before logging in again",
            headers={"Retry-After": str(e.retry_after_s)},
        ) from None
    if identity is None:
        raise _unauthorized(rt, request, "invalid username or password")
    return identity


def _strip_host(name: str, service: str) -> str:
    prefix = f"{service}/"
    return name[len(prefix) :] if name.startswith(prefix) else name


async def token(rt: Runtime, request: Request) -> JSONResponse:
    scopes = [s for value in request.query_params.getlist("scope") for s in value.split(" ") if s]
    limit = rt.settings.REGISTRY_AUTH_MAX_SCOPES
    if len(scopes) > limit:
        # Each scope costs a permission lookup: before the credentials are even checked, refuse many.
        raise RegistryError(
            BAD_PARAMETER, f"a token request may name at most {limit} scopes, not {len(scopes)}"
        )
    # As Quay: a request without scope is a `docker login`, and only that is audited as a login.
    identity = await _identity(rt, request, is_login=not scopes)
    if identity.is_anonymous and not scopes:
        raise _unauthorized(rt, request, "log in to use the registry")
    if identity.is_anonymous and not rt.settings.FEATURE_ANONYMOUS_ACCESS:
        raise _unauthorized(rt, request, "anonymous access is disabled; log in")
    service = service_name(rt)
    access: list[dict[str, Any]] = []
    public_only: list[str] = []
    for scope in scopes:
        if scope == "registry:catalog:*":
            access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            continue
        m = _REPO_SCOPE.match(scope)
        if m is None:
            raise RegistryError(BAD_PARAMETER, f"cannot parse scope {scope[:200]!r}")
        name = _strip_host(m["name"], service)
        if not is_valid_repository_name(name):
            raise RegistryError(NAME_INVALID, f"invalid repository name {name[:200]!r}")
        wanted = set(m["actions"].split(",")) & _KNOWN_ACTIONS
        repo = RepositoryName.parse(name, rt.settings.LIBRARY_NAMESPACE)
        decision = await rt.db.read(
            permissions.repository_access, rt.settings, identity, repo.namespace, repo.name
        )
        allowed = decision.actions
        granted = {a for a in wanted if a in allowed or (a == "delete" and permissions.ALL in allowed)}
        access.append({"type": "repository", "name": name, "actions": sorted(granted)})
        if decision.public_only and granted:
            public_only.append(name)
    jwt_token = rt.tokens.issue(identity, access, public_only)
    issued = datetime.fromtimestamp(time.time(), UTC).isoformat().replace("+00:00", "Z")
    return JSONResponse(
        {
            "token": jwt_token,
            "access_token": jwt_token,
            "expires_in": rt.tokens.lifetime_s,
            "issued_at": issued,
        }
    )

"""GET /v2/auth: the Docker Registry v2 token endpoint.

Credentials come as HTTP Basic; each requested scope is decided by the permission resolver and
down-scoped silently to what the caller may do, as Docker clients expect.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Scope:
    """A repository scope of a token request."""

    name: str
    """As the client wrote it (without the registry's host): what the token names."""
    repo: RepositoryName
    wanted: frozenset[str]


def _parse(scopes: list[str], service: str, library: str) -> list[_Scope | None] | RegistryError:
    """The requested scopes (None: the catalog), or the error for the first one that is wrong."""
    parsed: list[_Scope | None] = []
    for scope in scopes:
        if scope == "registry:catalog:*":
            parsed.append(None)
            continue
        m = _REPO_SCOPE.match(scope)
        if m is None:
            return RegistryError(BAD_PARAMETER, f"cannot parse scope {scope[:200]!r}")
        name = _strip_host(m["name"], service)
        if not is_valid_repository_name(name):
            return RegistryError(NAME_INVALID, f"invalid repository name {name[:200]!r}")
        wanted = frozenset(m["actions"].split(",")) & _KNOWN_ACTIONS
        parsed.append(_Scope(name, RepositoryName.parse(name, library), wanted))
    return parsed


async def _login(
    rt: Runtime, request: Request, scopes: list[_Scope], is_login: bool
) -> tuple[Identity, dict[RepositoryName, permissions.RepositoryAccess] | None]:
    """The caller and, when it logged in, the access decisions for `scopes`, read in the same
    transaction as its credentials."""
    creds = credentials.parse_basic(request.headers.get("authorization", ""))
    if creds is None:
        if request.headers.get("authorization"):
            raise _unauthorized(rt, request, "send credentials as HTTP Basic")
        return ANONYMOUS, None
    settings = rt.settings
    repos = [s.repo for s in scopes]
    try:
        identity, decisions = await credentials.login_and(
            rt,
            *creds,
            (lambda db, who: permissions.access_to_each(db, settings, who, repos)) if repos else None,
            client_address(request, settings.TRUSTED_PROXIES),
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
    return identity, decisions


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
    service = service_name(rt)
    parsed = _parse(scopes, service, rt.settings.LIBRARY_NAMESPACE)
    # A scope that is wrong is answered after the credentials, as before they were read together.
    wanted = [s for s in parsed if s is not None] if not isinstance(parsed, RegistryError) else []
    # The first token of the process loads the key, cryptography and PyJWT (auth/tokens.py): in a
    # thread, so that the event loop serves meanwhile.
    await rt.tokens.ready()
    # As Quay: a request without scope is a `docker login`, and only that is audited as a login.
    identity, decisions = await _login(rt, request, wanted, is_login=not scopes)
    if identity.is_anonymous and not scopes:
        raise _unauthorized(rt, request, "log in to use the registry")
    if identity.is_anonymous and not rt.settings.FEATURE_ANONYMOUS_ACCESS:
        raise _unauthorized(rt, request, "anonymous access is disabled; log in")
    if isinstance(parsed, RegistryError):
        raise parsed
    if decisions is None and wanted:
        decisions = await rt.db.read(
            permissions.access_to_each, rt.settings, identity, [s.repo for s in wanted]
        )
    access: list[dict[str, Any]] = []
    public_only: list[str] = []
    for scope in parsed:
        if scope is None:
            access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            continue
        assert decisions is not None
        decision = decisions[scope.repo]
        allowed = decision.actions
        granted = {a for a in scope.wanted if a in allowed or (a == "delete" and permissions.ALL in allowed)}
        access.append({"type": "repository", "name": scope.name, "actions": sorted(granted)})
        if decision.public_only and granted:
            public_only.append(scope.name)
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

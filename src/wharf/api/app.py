"""for_runtime(rt): the /api/v1 FastAPI application, with Quay's error shape on every error.

The application itself is built once per process and shared (see api/scope.py)."""

from __future__ import annotations

import functools
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from wharf import __version__
from wharf.api import (
    applications,
    apptokens,
    authorizations,
    builds,
    clientkeys,
    conversion,
    discovery,
    entities,
    externallogin,
    logs,
    messages,
    meta,
    mirror,
    notifications,
    oauth,
    org_mirror,
    org_security,
    organizations,
    permissions,
    prototypes,
    proxy_cache,
    quotas,
    recovery,
    repositories,
    retention,
    robots,
    search,
    secscan,
    signin,
    squash,
    stars,
    superuser,
    tags,
    team_invites,
    triggers,
    users,
)
from wharf.api.errors import ApiError, from_domain, invalid_request, response
from wharf.api.scope import ForRuntime, runtime_of
from wharf.core.errors import DomainError, ReadOnlyMode
from wharf.core.repositories import REGISTRY_READ_ONLY
from wharf.runtime import Runtime

_STATUS_TYPES = {401: "invalid_token", 403: "insufficient_scope", 404: "not_found", 405: "invalid_request"}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What still works while REGISTRY_STATE is readonly, besides reads: signing in and out.
_READONLY_ALLOWED = frozenset({"/api/v1/signin", "/api/v1/signin/verify", "/api/v1/signout"})


class RegistryReadOnly:
    """While REGISTRY_STATE is `readonly`, every /api/v1 request that would change something is
    answered 503 before it is routed (Quay's `check_readonly`), whoever sends it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and _runtime(scope).settings.REGISTRY_STATE == "readonly"
            and scope["method"] not in _SAFE_METHODS
            and scope["path"].startswith("/api/")
            and scope["path"].rstrip("/") not in _READONLY_ALLOWED
        ):
            request = Request(scope)
            body = {**ApiError(503, "invalid_request", REGISTRY_READ_ONLY).body(request), "is_readonly": True}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TrailingSlash:
    """A path Quay defines with a trailing slash (`/repository/{R}/tag/`, `.../notification/`,
    `.../permissions/user/`, `/user/`...) asked for without it is redirected with 308 to the slashed
    form, as Flask answers for Quay, before routing: the repository catch-all would otherwise read
    `ns/app/tag` as a nested repository name and answer 404."""

    def __init__(self, app: ASGIApp, patterns: list[re.Pattern[str]]) -> None:
        self.app = app
        self.patterns = patterns

    def _slashed(self, path: str) -> bool:
        for pattern in self.patterns:
            m = pattern.match(path + "/")
            # a repository is namespace/name at least: /repository/ns/tag is the repository ns/tag
            if m is not None and "/" in m.groupdict().get("repository", "/"):
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path.startswith("/api/v1/") and not path.endswith("/") and self._slashed(path):
            query = scope.get("query_string", b"").decode("latin-1")
            location = f"{path}/?{query}" if query else f"{path}/"
            await Response(status_code=308, headers={"Location": location})(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _Paths:
    """The path templates of /api/v1, compiled once: which ones end with a slash, and whether a
    path names a sub-resource of a repository that exists."""

    CATCH_ALL = "/api/v1/repository/{repository:path}"

    def __init__(self, paths: list[str]) -> None:
        self.slashed = [compile_path(p)[0] for p in paths if p.endswith("/")]
        self.specific = [compile_path(p)[0] for p in paths if p != self.CATCH_ALL]

    def unknown_repository_subpath(self, path: str) -> bool:
        """A path below namespace/name (`/repository/ns/app/nothing`) that only the repository
        catch-all matches: an unknown sub-path (404), not a method the path lacks (405)."""
        rest = path.removeprefix("/api/v1/repository/")
        return (
            rest != path and rest.strip("/").count("/") >= 2 and not any(p.match(path) for p in self.specific)
        )


def _runtime(scope: Scope) -> Runtime:
    rt = runtime_of(Request(scope))
    assert rt is not None, "the /api/v1 application is reached through for_runtime()"
    return rt


def for_runtime(rt: Runtime) -> ASGIApp:
    return ForRuntime(shared_api(), rt)


@functools.cache
def shared_api() -> FastAPI:
    api = FastAPI(
        title="Wharf API",
        version=__version__,
        description="Quay-compatible registry management API: same paths, fields and operation ids as Quay.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # discovery.py serves /api/v1/docs, with Swagger UI's files from here, not a CDN
        redoc_url=None,
    )
    # repositories comes after every other /repository/{R}/... router (permissions, tags...): its
    # catch-all /repository/{repository:path} routes must match last. Keep it the last one.
    modules = (
        applications,
        users,
        quotas,
        authorizations,
        conversion,
        recovery,
        superuser,
        builds,  # before logs: its /build/{id}/logs is not the repository's /logs
        triggers,
        organizations,
        proxy_cache,
        org_mirror,
        team_invites,
        mirror,
        permissions,
        robots,
        apptokens,
        clientkeys,
        externallogin,
        prototypes,
        stars,
        search,
        entities,
        logs,
        messages,
        notifications,
        tags,
        retention,
        secscan,
        org_security,
        repositories,
    )
    for module in modules:
        api.include_router(module.router, prefix="/api/v1")
    # These carry their full paths: some live outside /api/v1, as in Quay.
    api.include_router(signin.router)
    api.include_router(oauth.router)
    api.include_router(squash.router)
    api.include_router(meta.router)
    api.include_router(discovery.router)
    api.include_router(builds.uploads)
    api.include_router(triggers.webhooks)
    api.add_middleware(RegistryReadOnly)
    paths = _Paths(
        [f"/api/v1{r.path}" for m in modules for r in m.router.routes if isinstance(r, Route)]
        + [r.path for m in (signin, oauth, squash) for r in m.router.routes if isinstance(r, Route)]
    )
    api.add_middleware(TrailingSlash, patterns=paths.slashed)

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError) -> JSONResponse:
        return response(e, request)

    @api.exception_handler(DomainError)
    async def _domain_error(request: Request, e: DomainError) -> JSONResponse:
        if isinstance(e, ReadOnlyMode):  # a write reached the database in read-only mode
            return JSONResponse({**from_domain(e).body(request), "is_readonly": True}, status_code=503)
        return response(from_domain(e), request)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}" for err in e.errors()
        )
        return response(invalid_request(problems or "the request body is invalid"), request)

    @api.exception_handler(HTTPException)
    async def _http(request: Request, e: HTTPException) -> JSONResponse:
        if e.status_code == 405 and paths.unknown_repository_subpath(request.url.path):
            return response(ApiError(404, "not_found", "no such endpoint"), request)
        error_type = _STATUS_TYPES.get(e.status_code, "invalid_request")
        return response(ApiError(e.status_code, error_type, str(e.detail)), request)

    return api

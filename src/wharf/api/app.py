"""build_api(rt): the /api/v1 FastAPI application, with Quay's error shape on every error."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from wharf import __version__
from wharf.api import (
    applications,
    apptokens,
    builds,
    clientkeys,
    discovery,
    logs,
    messages,
    meta,
    notifications,
    oauth,
    organizations,
    permissions,
    prototypes,
    repositories,
    robots,
    search,
    secscan,
    signin,
    squash,
    stars,
    superuser,
    tags,
    users,
)
from wharf.api.errors import ApiError, from_domain, invalid_request, response
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

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.rt.settings.REGISTRY_STATE == "readonly"
            and scope["method"] not in _SAFE_METHODS
            and scope["path"].startswith("/api/")
            and scope["path"].rstrip("/") not in _READONLY_ALLOWED
        ):
            request = Request(scope)
            body = {**ApiError(503, "invalid_request", REGISTRY_READ_ONLY).body(request), "is_readonly": True}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_api(rt: Runtime) -> FastAPI:
    api = FastAPI(
        title="Wharf API",
        version=__version__,
        description="Quay-compatible registry management API: same paths, fields and operation ids as Quay.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    api.state.runtime = rt
    # repositories comes after every other /repository/{R}/... router (permissions, tags...): its
    # catch-all /repository/{repository:path} routes must match last. Keep it the last one.
    for module in (
        applications,
        users,
        superuser,
        organizations,
        permissions,
        robots,
        apptokens,
        clientkeys,
        prototypes,
        stars,
        search,
        logs,
        messages,
        notifications,
        tags,
        builds,
        secscan,
        repositories,
    ):
        api.include_router(module.router, prefix="/api/v1")
    # These carry their full paths: some live outside /api/v1, as in Quay.
    api.include_router(signin.router)
    api.include_router(oauth.router)
    api.include_router(squash.router)
    api.include_router(meta.router)
    api.include_router(discovery.router)
    api.add_middleware(RegistryReadOnly, rt=rt)

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
        error_type = _STATUS_TYPES.get(e.status_code, "invalid_request")
        return response(ApiError(e.status_code, error_type, str(e.detail)), request)

    return api

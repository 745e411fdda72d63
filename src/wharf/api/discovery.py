"""/api/v1/discovery: the API in Swagger 2.0, as Quay serves it (see swagger.py); /api/v1/docs: the
interactive view of /api/v1/openapi.json (Swagger UI, served from here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from wharf.api import swagger
from wharf.api.deps import Rt
from wharf.api.errors import not_found

router = APIRouter(tags=["discovery"])


@router.get(
    "/api/v1/discovery",
    operation_id="discovery",
    summary="The API in Swagger 2.0, as Quay's discovery serves it (OpenAPI 3.1: /api/v1/openapi.json)",
)
async def discovery(rt: Rt, request: Request, internal: bool = False) -> dict[str, Any]:
    openapi = request.app.openapi()
    parts = getattr(request.app.state, "swagger_parts", None)
    if parts is None:  # the same for every caller: made once
        parts = request.app.state.swagger_parts = swagger.paths_and_definitions(openapi)
    scheme, _, host = rt.settings.public_origin.partition("://")
    return swagger.document(openapi, parts, host, scheme)


@router.get(swagger.DOCS_PATH, include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    return swagger.ui_page(request.app.openapi_url, f"{request.app.title}: Swagger UI")


@router.get(swagger.DOCS_PATH + "/{asset}", include_in_schema=False)
async def docs_asset(asset: str) -> Response:
    found = swagger.ui_asset(asset)
    if found is None:
        raise not_found(f"{swagger.DOCS_PATH} has no file named {asset!r}")
    return found

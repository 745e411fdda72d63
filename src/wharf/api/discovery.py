"""/api/v1/discovery: the API in Swagger 2.0, as Quay serves it (see swagger.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wharf.api import swagger
from wharf.api.deps import Rt

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

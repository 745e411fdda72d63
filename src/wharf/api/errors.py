"""Quay's error shape for /api/v1, and the mapping from domain errors to it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from wharf.core import errors as domain


class ApiError(Exception):
    """An error answered as `{type, title, status, detail, error_message, error_type}`."""

    def __init__(
        self, status: int, error_type: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error_type = error_type
        self.detail = detail
        self.headers = headers or {}

    def body(self, request: Request) -> dict[str, Any]:
        return {
            "type": f"{request.base_url}api/v1/error/{self.error_type}",
            "title": self.error_type,
            "status": self.status,
            "detail": self.detail,
            "error_message": self.detail,
            "error_type": self.error_type,
        }


def unauthorized(detail: str = "Requires authentication: send Authorization: Bearer <token>") -> ApiError:
    return ApiError(401, "invalid_token", detail, {"WWW-Authenticate": 'Bearer realm="wharf"'})


def forbidden(detail: str = "You are not allowed to do this") -> ApiError:
    return ApiError(403, "insufficient_scope", detail)


def not_found(detail: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", detail)


def invalid_request(detail: str) -> ApiError:
    return ApiError(400, "invalid_request", detail)


def from_domain(e: domain.DomainError) -> ApiError:
    if isinstance(e, domain.NotFound):
        return not_found(str(e))
    if isinstance(e, domain.AlreadyExists):
        return invalid_request(str(e))
    if isinstance(e, domain.InvalidInput):
        return invalid_request(str(e))
    if isinstance(e, domain.TagImmutable):
        return ApiError(409, "tag_immutable", str(e))
    if isinstance(e, domain.ReadOnly):
        return ApiError(503, "invalid_request", str(e))  # is_readonly: see api/app.py
    return invalid_request(str(e))


def response(e: ApiError, request: Request) -> JSONResponse:
    return JSONResponse(e.body(request), status_code=e.status, headers=e.headers)

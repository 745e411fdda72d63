"""Quay's error shape for /api/v1, and the mapping from domain errors to it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from wharf.api.scope import runtime_of
from wharf.core import errors as domain

ERROR_DESCRIPTIONS: dict[str, str] = {
    "invalid_request": "The request could not be carried out as sent: a value is missing, malformed or "
    "not allowed here. The detail says which.",
    "invalid_token": "No valid credential came with the request: the token is missing, unknown, expired "
    "or revoked. Sign in again or send another token.",
    "expired_token": "The token has expired. Get a new one.",
    "insufficient_scope": "The caller is known but may not do this: the token lacks the scope, or the "
    "account lacks the role on the resource.",
    "fresh_login_required": "This action needs a recent sign-in: enter the password again.",
    "not_found": "The resource does not exist, or the caller may not see it.",
    "downstream_issue": "A service this registry depends on failed while answering.",
    "external_service_timeout": "A service this registry depends on did not answer in time. Try again.",
    "too_many_requests": "The caller asked too often in a short while: wait (Retry-After says how long) "
    "and try again.",
    "tag_immutable": "The tag is immutable: it cannot be moved, deleted or expired until that is turned off.",
}
"""Every `error_type` an /api/v1 error body can carry, served at /api/v1/error/{error_type}."""


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
        # links come from settings, never from the Host header (see Settings.public_host)
        runtime = runtime_of(request)
        origin = runtime.settings.public_origin if runtime is not None else ""
        return {
            "type": f"{origin}/api/v1/error/{self.error_type}",
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
    if isinstance(e, domain.NotAllowed):
        return forbidden(str(e))
    if isinstance(e, domain.Unavailable):
        return ApiError(503, "downstream_issue", str(e))
    if isinstance(e, domain.ReadOnly):
        return ApiError(503, "invalid_request", str(e))  # is_readonly: see api/app.py
    return invalid_request(str(e))


def response(e: ApiError, request: Request) -> JSONResponse:
    return JSONResponse(e.body(request), status_code=e.status, headers=e.headers)

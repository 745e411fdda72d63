"""/api/v1/recovery: Quay's requestRecoveryEmail, the "forgot my password" mail. Anyone may ask;
the answer is the same whether or not the address has an account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from wharf.api.deps import Rt
from wharf.api.errors import ApiError, invalid_request
from wharf.auth.address import client_address
from wharf.services import recovery as recovery_service

router = APIRouter(tags=["user"])


class RequestRecovery(BaseModel):
    email: str = Field(max_length=255)


@router.post(
    "/recovery",
    operation_id="requestRecoveryEmail",
    summary="Mail a password-reset link to an account's address",
)
async def request_recovery_email(rt: Rt, request: Request, body: RequestRecovery) -> dict[str, Any]:
    try:
        await recovery_service.request(
            rt, body.email, client_address(request, rt.settings.TRUSTED_PROXIES), None
        )
    except recovery_service.MailUnavailable as e:
        raise invalid_request(str(e)) from None
    except recovery_service.TooManyRequests as e:
        raise ApiError(429, "too_many_requests", str(e), {"Retry-After": "900"}) from None
    # Quay answers {"status": "sent"} for an account; here every address gets it (no enumeration).
    return {"status": "sent"}

"""/api/v1/teaminvite/{code}: the invitee's answer to an invitation to a team (Quay's
acceptOrganizationTeamInvite and declineOrganizationTeamInvite)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from wharf.api.access import own_user
from wharf.api.deps import Rt, User, actor
from wharf.services import team_invites as invite_service

router = APIRouter(prefix="/teaminvite", tags=["team"])


@router.put(
    "/{code}", operation_id="acceptOrganizationTeamInvite", summary="Accept an invitation to join a team"
)
async def accept_organization_team_invite(rt: Rt, who: User, code: str) -> dict[str, Any]:
    me = await own_user(rt, who, "only a user can accept an invitation")
    found = await invite_service.accept(rt, me, actor(who), code)
    return {"org": found.org, "team": found.team}


@router.delete(
    "/{code}",
    operation_id="declineOrganizationTeamInvite",
    summary="Decline an invitation to join a team",
    status_code=204,
)
async def decline_organization_team_invite(rt: Rt, who: User, code: str) -> Response:
    me = await own_user(rt, who, "only a user can decline an invitation")
    await invite_service.decline(rt, me, actor(who), code)
    return Response(status_code=204)

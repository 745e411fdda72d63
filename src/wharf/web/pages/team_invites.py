"""/teaminvite?code=...: the page an invitation to a team links to (from its e-mail or the inbox),
where the signed-in invitee accepts or declines. An anonymous visitor signs in (or signs up)
first and comes back here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import accounts, team_invites
from wharf.core.accounts import AccountRecord
from wharf.core.errors import NotAllowed, NotFound
from wharf.core.team_invites import Invitation
from wharf.runtime import Runtime
from wharf.services import team_invites as invite_service
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.session import Visitor, read_form, signed_in

_GONE = (
    "This invitation does not work: it was answered already, withdrawn, or it has expired. Ask an "
    "administrator of the organization to invite you again."
)


def _refused(e: NotFound | NotAllowed) -> WebError:
    if isinstance(e, NotAllowed):
        return WebError.forbidden(f"{e}. Sign in as the user it was sent to.")
    return WebError(404, "This invitation does not work", _GONE)


async def _me(rt: Runtime, v: Visitor) -> AccountRecord:
    me = await rt.db.read(accounts.get_by_id, v.identity.account_id or 0)
    if me is None or me.kind != "user":
        raise WebError.forbidden("Only a user can answer an invitation to a team.")
    return me


async def invitation_page(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    me = await _me(rt, v)
    try:
        found: Invitation = await rt.db.read(team_invites.find, me, request.query_params.get("code", ""))
    except (NotFound, NotAllowed) as e:
        raise _refused(e) from None
    return render.page(
        request, "team_invite.html", invitation=found, code=request.query_params.get("code", "")
    )


async def answer(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    me = await _me(rt, v)
    code = form.get("code", "")
    if request.path_params["answer"] not in ("accept", "decline"):
        raise WebError.not_found("This action")
    accepting = request.path_params["answer"] == "accept"
    try:
        if accepting:
            found = await invite_service.accept(rt, me, v.actor, code)
        else:
            found = await invite_service.decline(rt, me, v.actor, code)
    except (NotFound, NotAllowed) as e:
        raise _refused(e) from None
    if accepting:
        return render.redirect(
            f"/organization/{found.org}/teams/{found.team}", f"You joined team {found.team} of {found.org}."
        )
    return render.redirect("/notifications", f"You declined to join team {found.team} of {found.org}.")


ROUTES: list[BaseRoute] = [
    Route("/teaminvite", invitation_page, methods=["GET"]),
    Route("/teaminvite/{answer:str}", answer, methods=["POST"]),
]

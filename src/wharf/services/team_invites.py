"""Inviting people to teams and their answers, for the API and the web pages: the invitation is
written in one transaction, then mailed (a mail server that is down does not undo it: the
invitee still finds it in the app, and the administrator can send it again)."""

from __future__ import annotations

import logging

from wharf.core import audit, team_invites
from wharf.core.accounts import AccountRecord
from wharf.core.team_invites import Invitation, Pending, Sent
from wharf.core.teams import TeamRecord
from wharf.integrations import mail
from wharf.integrations.mail import MailFailed, MailUnavailable
from wharf.runtime import Runtime

__all__ = [
    "Invitation",
    "MailUnavailable",
    "Pending",
    "accept",
    "add_or_invite",
    "cancel",
    "decline",
    "invite_email",
]

log = logging.getLogger(__name__)


def _requires_invite(rt: Runtime) -> bool:
    """Quay's rule: invitations need both FEATURE_MAILING and FEATURE_REQUIRE_TEAM_INVITE."""
    return rt.settings.FEATURE_MAILING and rt.settings.FEATURE_REQUIRE_TEAM_INVITE


def can_mail(rt: Runtime) -> bool:
    """Whether this registry sends e-mail, so that an address can be invited."""
    return mail.enabled(rt.settings)


async def _mail(rt: Runtime, sent: Sent, to: str, origin: str | None) -> None:
    if not mail.enabled(rt.settings):
        return
    link = f"{origin or rt.settings.public_origin}/teaminvite?code={sent.code}"
    who = sent.invitation.inviter or "An administrator"
    text = (
        f"{who} invites you to join team {sent.invitation.team} of organization {sent.invitation.org}.\n\n"
        f"To accept or decline, sign in (or create an account) and open: {link}\n\n"
        f"The invitation expires in {team_invites.LIFETIME_MS // 86_400_000} days. "
        "If you did not expect it, ignore this message."
    )
    try:
        await mail.send(rt.settings, to, f"Join team {sent.invitation.team} of {sent.invitation.org}", text)
    except MailFailed as e:
        log.warning("team invitation not mailed: %s", e)


async def add_or_invite(
    rt: Runtime, org: AccountRecord, team: TeamRecord, member: AccountRecord, actor: audit.Actor
) -> bool:
    """Add `member` to the team or invite them; True when invited."""
    sent = await rt.db.write(
        team_invites.add_or_invite, org, team, member, actor, require_invite=_requires_invite(rt)
    )
    if sent is None:
        return False
    if member.email:
        await _mail(rt, sent, member.email, actor.origin)
    return True


async def invite_email(
    rt: Runtime, org: AccountRecord, team: TeamRecord, email: str, actor: audit.Actor
) -> str:
    """Invite an e-mail address; returns the address as stored. Raises MailUnavailable when this
    registry sends no e-mail: the message is the only way such an invitation reaches anyone."""
    if not mail.enabled(rt.settings):
        raise MailUnavailable("e-mail is not configured on this registry (MAIL_SERVER)")
    sent = await rt.db.write(team_invites.invite_email, org, team, email, actor)
    assert sent.invitation.email is not None
    await _mail(rt, sent, sent.invitation.email, actor.origin)
    return sent.invitation.email


async def pending(rt: Runtime, team: TeamRecord) -> list[Pending]:
    return await rt.db.read(team_invites.pending, team)


async def cancel(
    rt: Runtime,
    org: AccountRecord,
    team: TeamRecord,
    actor: audit.Actor,
    *,
    user: AccountRecord | None = None,
    email: str | None = None,
) -> bool:
    """Withdraw the invitation of a user or of an address; False when there is none."""
    if user is not None:
        return await rt.db.write(team_invites.cancel_user, org, team, user, actor)
    assert email is not None
    return await rt.db.write(team_invites.cancel_email, org, team, email, actor)


async def accept(
    rt: Runtime,
    user: AccountRecord,
    actor: audit.Actor,
    code: str,
) -> Invitation:
    return await rt.db.write(team_invites.accept, user, actor, code)


async def decline(
    rt: Runtime,
    user: AccountRecord,
    actor: audit.Actor,
    code: str,
) -> Invitation:
    return await rt.db.write(team_invites.decline, user, actor, code)

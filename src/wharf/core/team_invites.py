"""Invitations to join a team (Quay's FEATURE_REQUIRE_TEAM_INVITE and inviteTeamMemberEmail).

An administrator who adds a user from outside the organization to a team invites them instead:
the user accepts or declines, so nobody is put in an organization without agreeing. An e-mail
address with no account can be invited too; whoever holds the code the message carries accepts
it once signed in. Robots and users already in one of the organization's teams join directly.

Only a hash of each code is stored; accepting or declining deletes the invitation, so a code
works once, and it stops working after LIFETIME_MS.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, exists, insert, select

from wharf.core import _secrets, audit, inbox
from wharf.core._sql import insert_ignore
from wharf.core.accounts import AccountRecord
from wharf.core.authorized_emails import check_address
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotAllowed, NotFound
from wharf.core.teams import TeamRecord, add_member, refuse_if_synced
from wharf.db.engine import Db
from wharf.db.models import Account, Team, TeamInvite, TeamMember, UserNotification

LIFETIME_MS = 7 * 24 * 3600 * 1000
"""How long an invitation can be accepted: a week, time enough to read the mail after a weekend."""
NOTIFICATION_KIND = "org_team_invite"


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending invitation as the team page and getOrganizationTeamMembers show it."""

    id: int
    user: str | None
    email: str | None
    inviter: str | None


@dataclass(frozen=True, slots=True)
class Invitation:
    """What an invitee is asked to join."""

    id: int
    org: str
    team: str
    inviter: str | None
    user_id: int | None
    email: str | None
    team_id: int
    org_id: int


@dataclass(frozen=True, slots=True)
class Sent:
    """A new invitation and the code to send (shown nowhere else)."""

    invitation: Invitation
    code: str


def _create(
    db: Db,
    org: AccountRecord,
    team: TeamRecord,
    inviter: audit.Actor | None,
    user: AccountRecord | None,
    email: str | None,
) -> Sent:
    """A fresh invitation; one already pending for the same person and team is replaced (its old
    code stops working), as sending it again should."""
    same = TeamInvite.user_id == user.id if user is not None else TeamInvite.email == email
    db.execute(delete(TeamInvite).where(TeamInvite.team_id == team.id, same))
    code = secrets.token_urlsafe(32)
    now = now_ms()
    inviter_id = inviter.account_id if inviter is not None else None
    result = db.execute(
        insert(TeamInvite).values(
            team_id=team.id,
            user_id=user.id if user is not None else None,
            email=email,
            inviter_id=inviter_id,
            code_hash=_secrets.digest(code),
            created_ms=now,
            expires_ms=now + LIFETIME_MS,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    invite_id = int(key[0])
    inviter_name = inviter.name if inviter is not None else None
    return Sent(
        Invitation(
            invite_id, org.name, team.name, inviter_name, user.id if user else None, email, team.id, org.id
        ),
        code,
    )


def _in_organization(db: Db, org_id: int, account_id: int) -> bool:
    query = select(
        exists().where(
            TeamMember.account_id == account_id, TeamMember.team_id == Team.id, Team.org_id == org_id
        )
    )
    return bool(db.execute(query).scalar())


def add_or_invite(
    db: Db,
    org: AccountRecord,
    team: TeamRecord,
    member: AccountRecord,
    actor: audit.Actor | None,
    *,
    require_invite: bool,
) -> Sent | None:
    """Add `member` to the team, or invite them (returns the invitation) when `require_invite`
    and they are a user from outside the organization."""
    refuse_if_synced(db, team, member)
    if (
        not require_invite
        or member.kind != "user"
        or _in_organization(db, org.id, member.id)
        or (actor is not None and actor.account_id == member.id)
    ):
        add_member(db, org, team, member, actor)
        return None
    sent = _create(db, org, team, actor, member, None)
    inbox.add(
        db,
        [member.id],
        NOTIFICATION_KIND,
        # Quay's metadata, code included (its web client accepts with it). Here that exposes
        # nothing: a user's invitation can only be answered by that user, whoever has the code.
        {
            "code": sent.code,
            "inviter": sent.invitation.inviter,
            "org": org.name,
            "team": team.name,
            "summary": f"{sent.invitation.inviter or 'An administrator'} invites you to join team "
            f"{team.name} of {org.name}",
        },
    )
    audit.record(
        db,
        "org_invite_team_member",
        actor,
        namespace_id=org.id,
        user=member.name,
        member=member.name,
        team=team.name,
    )
    return sent


def invite_email(db: Db, org: AccountRecord, team: TeamRecord, email: str, actor: audit.Actor | None) -> Sent:
    """Invite an e-mail address (which may belong to no account) to the team."""
    refuse_if_synced(db, team, None)
    email = check_address(email)
    sent = _create(db, org, team, actor, None, email)
    audit.record(
        db, "org_invite_team_member", actor, namespace_id=org.id, email=email, member=email, team=team.name
    )
    return sent


def pending(db: Db, team: TeamRecord) -> list[Pending]:
    """The team's invitations not yet answered nor expired, users by name then addresses."""
    invitee, inviter = Account.__table__.alias("invitee"), Account.__table__.alias("inviter")
    rows = db.execute(
        select(TeamInvite.id, invitee.c.name.label("user"), TeamInvite.email, inviter.c.name.label("inviter"))
        .outerjoin(invitee, invitee.c.id == TeamInvite.user_id)
        .outerjoin(inviter, inviter.c.id == TeamInvite.inviter_id)
        .where(TeamInvite.team_id == team.id, TeamInvite.expires_ms > now_ms())
        .order_by(TeamInvite.id)
    )
    return [Pending(r.id, r.user, r.email, r.inviter) for r in rows]


def cancel_user(
    db: Db, org: AccountRecord, team: TeamRecord, user: AccountRecord, actor: audit.Actor | None
) -> bool:
    """Withdraw the invitation of `user`; False when there is none."""
    gone = db.execute(delete(TeamInvite).where(TeamInvite.team_id == team.id, TeamInvite.user_id == user.id))
    if gone.rowcount == 0:
        return False
    _forget_notifications(db, user.id, org.name, team.name)
    audit.record(
        db,
        "org_delete_team_member_invite",
        actor,
        namespace_id=org.id,
        user=user.name,
        member=user.name,
        team=team.name,
    )
    return True


def cancel_email(db: Db, org: AccountRecord, team: TeamRecord, email: str, actor: audit.Actor | None) -> bool:
    """Withdraw the invitation of an e-mail address; False when there is none."""
    email = email.strip()
    gone = db.execute(delete(TeamInvite).where(TeamInvite.team_id == team.id, TeamInvite.email == email))
    if gone.rowcount == 0:
        return False
    audit.record(
        db,
        "org_delete_team_member_invite",
        actor,
        namespace_id=org.id,
        email=email,
        member=email,
        team=team.name,
    )
    return True


_INVITATION = (
    select(
        TeamInvite.id,
        Account.name.label("org"),
        Team.name.label("team"),
        TeamInvite.inviter_id,
        TeamInvite.user_id,
        TeamInvite.email,
        TeamInvite.expires_ms,
        TeamInvite.team_id,
        Team.org_id,
    )
    .join(Team, Team.id == TeamInvite.team_id)
    .join(Account, Account.id == Team.org_id)
)


def _find(db: Db, user: AccountRecord, code: str) -> Invitation:
    """The invitation `user` may answer with `code`. An unknown, expired or answered code is
    NotFound; someone else's invitation is NotAllowed: a code meant for one user is no use to
    whoever else reads it."""
    row = db.execute(_INVITATION.where(TeamInvite.code_hash == _secrets.digest(code))).first()
    if row is None or row.expires_ms <= now_ms():
        raise NotFound("this invitation does not exist, was answered already, or has expired")
    if row.user_id is not None and row.user_id != user.id:
        raise NotAllowed("this invitation is addressed to another user")
    inviter = db.execute(select(Account.name).where(Account.id == row.inviter_id)).scalar()
    return Invitation(row.id, row.org, row.team, inviter, row.user_id, row.email, row.team_id, row.org_id)


def find(db: Db, user: AccountRecord, code: str) -> Invitation:
    """The invitation `code` opens, for `user` to answer (NotFound, NotAllowed as `accept`)."""
    return _find(db, user, code)


def _forget_notifications(db: Db, user_id: int, org: str, team: str) -> None:
    """The user's inbox items about an invitation to this team go with the invitation."""
    rows = db.execute(
        select(UserNotification.id, UserNotification.metadata_json).where(
            UserNotification.target_id == user_id, UserNotification.kind == NOTIFICATION_KIND
        )
    )
    ids = []
    for r in rows:
        data = json.loads(r.metadata_json or "{}")
        if data.get("org") == org and data.get("team") == team:
            ids.append(r.id)
    if ids:
        db.execute(delete(UserNotification).where(UserNotification.id.in_(ids)))


def accept(
    db: Db,
    user: AccountRecord,
    actor: audit.Actor | None,
    code: str,
) -> Invitation:
    """`user` joins the team the invitation is for; the invitation is used up."""
    if user.kind != "user":
        raise InvalidInput("only a user can accept an invitation")
    found = _find(db, user, code)
    db.execute(delete(TeamInvite).where(TeamInvite.id == found.id))
    insert_ignore(db, TeamMember, {"team_id": found.team_id, "account_id": user.id})
    _forget_notifications(db, user.id, found.org, found.team)
    audit.record(
        db,
        "org_team_member_invite_accepted",
        actor,
        namespace_id=found.org_id,
        member=user.name,
        team=found.team,
        inviter=found.inviter,
    )
    return found


def decline(
    db: Db,
    user: AccountRecord,
    actor: audit.Actor | None,
    code: str,
) -> Invitation:
    """`user` turns the invitation down; it is used up."""
    found = _find(db, user, code)
    db.execute(delete(TeamInvite).where(TeamInvite.id == found.id))
    _forget_notifications(db, user.id, found.org, found.team)
    audit.record(
        db,
        "org_team_member_invite_declined",
        actor,
        namespace_id=found.org_id,
        member=user.name,
        team=found.team,
        inviter=found.inviter,
    )
    return found

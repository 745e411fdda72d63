"""Teams of an organization and their members."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from wharf.core import audit, revocation
from wharf.core._sql import insert_ignore
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotFound
from wharf.db.engine import Db
from wharf.db.models import Account, RepositoryPermission, Team, TeamMember, TeamSync

ROLES = ("member", "creator", "admin")
_NAME_PATTERN = r"^([a-z0-9]+(?:[._-][a-z0-9]+)*)$"
"""Quay's VALID_TEAMNAME_REGEX: `team-1.x` is a team name."""
_NAME = re.compile(_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int
    org_id: int
    name: str
    role: str
    description: str


def get(db: Db, org_id: int, name: str) -> TeamRecord | None:
    row = db.execute(
        select(Team.id, Team.org_id, Team.name, Team.role, Team.description).where(
            Team.org_id == org_id, Team.name == name
        )
    ).first()
    return TeamRecord(*row) if row else None


def list_teams(db: Db, org_id: int) -> list[TeamRecord]:
    rows = db.execute(
        select(Team.id, Team.org_id, Team.name, Team.role, Team.description)
        .where(Team.org_id == org_id)
        .order_by(Team.name)
    )
    return [TeamRecord(*r) for r in rows]


def upsert(
    db: Db, org: AccountRecord, name: str, role: str, description: str | None, actor: audit.Actor | None
) -> TeamRecord:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if not _NAME.match(name):
        raise InvalidInput(
            f"Invalid team name {name}: Namespace must match expression {_NAME_PATTERN}", field="name"
        )
    if not 2 <= len(name) <= 255:
        raise InvalidInput(
            f"Invalid team name {name}: Team must be between 2 and 255 characters in length", field="name"
        )
    existing = get(db, org.id, name)
    if existing is None:
        db.execute(
            insert(Team).values(
                org_id=org.id, name=name, role=role, description=description or "", created_ms=now_ms()
            )
        )
        audit.record(db, "org_create_team", actor, namespace_id=org.id, team=name, role=role)
    else:
        if existing.name == "owners" and role != "admin":
            raise InvalidInput("the owners team must keep the admin role")
        values: dict[str, str] = {"role": role}
        if description is not None:
            values["description"] = description
        db.execute(update(Team).where(Team.id == existing.id).values(**values))
        if existing.role != role:
            revocation.revoke_team(db, existing.id)
            audit.record(db, "org_set_team_role", actor, namespace_id=org.id, team=name, role=role)
    team = get(db, org.id, name)
    assert team is not None
    return team


def delete_team(db: Db, org: AccountRecord, team: TeamRecord, actor: audit.Actor | None) -> None:
    if team.name == "owners":
        raise InvalidInput("the owners team cannot be deleted")
    revocation.revoke_team(db, team.id)
    db.execute(delete(Team).where(Team.id == team.id))
    audit.record(db, "org_delete_team", actor, namespace_id=org.id, team=team.name)


SYNCED_TEAM = (
    "team {team} is synchronized with a directory group: its users come and go with the group "
    "(robots may still be added and removed by hand)"
)


def is_synced(db: Db, team_id: int) -> bool:
    """Whether the team's users follow a directory group (core/team_sync.py)."""
    return db.execute(select(TeamSync.team_id).where(TeamSync.team_id == team_id)).first() is not None


def _refuse_if_synced(db: Db, team: TeamRecord, member: AccountRecord | None, by_sync: bool) -> None:
    # Quay refuses hand edits of a synced team's users too; the next synchronization would undo them.
    if not by_sync and (member is None or member.kind == "user") and is_synced(db, team.id):
        raise InvalidInput(SYNCED_TEAM.format(team=team.name))


def refuse_if_synced(db: Db, team: TeamRecord, member: AccountRecord | None) -> None:
    """Refuse a hand-made change of a synced team's users (`member` None: an e-mail invitation,
    which can only bring in a user)."""
    _refuse_if_synced(db, team, member, by_sync=False)


def add_member(
    db: Db,
    org: AccountRecord,
    team: TeamRecord,
    member: AccountRecord,
    actor: audit.Actor | None,
    *,
    by_sync: bool = False,
) -> None:
    _refuse_if_synced(db, team, member, by_sync)
    if member.kind == "org":
        raise InvalidInput("an organization cannot be a team member")
    if member.kind == "robot" and not member.name.startswith(f"{org.name}+"):
        # Another namespace's robot in a team would act with this organization's roles (Quay refuses it too).
        raise InvalidInput(f"only robots of {org.name} ({org.name}+name) can join its teams")
    insert_ignore(db, TeamMember, {"team_id": team.id, "account_id": member.id})
    audit.record(db, "org_add_team_member", actor, namespace_id=org.id, team=team.name, member=member.name)


def remove_member(
    db: Db,
    org: AccountRecord,
    team: TeamRecord,
    member: AccountRecord,
    actor: audit.Actor | None,
    *,
    by_sync: bool = False,
) -> None:
    _refuse_if_synced(db, team, member, by_sync)
    if team.name == "owners" and len(member_names(db, team)) <= 1:
        raise InvalidInput("an organization needs at least one owner")
    result = db.execute(
        delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.account_id == member.id)
    )
    if result.rowcount == 0:
        raise NotFound(f"{member.name} is not a member of team {team.name}")
    revocation.revoke(db, [member.id])
    audit.record(db, "org_remove_team_member", actor, namespace_id=org.id, team=team.name, member=member.name)


def member_names(db: Db, team: TeamRecord) -> list[tuple[str, str]]:
    """(name, kind) of the team's members."""
    rows = db.execute(
        select(Account.name, Account.kind)
        .join(TeamMember, TeamMember.account_id == Account.id)
        .where(TeamMember.team_id == team.id)
        .order_by(Account.name)
    )
    return [(r.name, r.kind) for r in rows]


def counts(db: Db, team: TeamRecord) -> tuple[int, int]:
    """(members, repositories) of a team."""
    members = db.execute(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team.id))
    repos = db.execute(
        select(func.count()).select_from(RepositoryPermission).where(RepositoryPermission.team_id == team.id)
    )
    return int(members.scalar_one()), int(repos.scalar_one())


def names_of_member(db: Db, org_id: int, account_id: int) -> list[str]:
    """The names of the organization's teams that `account_id` is in."""
    rows = db.execute(
        select(Team.name)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.org_id == org_id, TeamMember.account_id == account_id)
        .order_by(Team.name)
    )
    return [r.name for r in rows]

"""What `GET /api/v1/find/all` finds besides repositories: teams, robots and namespaces whose
names contain the query (Quay's conductSearch). The caller's rights are decided by the auth layer;
these functions take the caller's account id only to look at the caller's own teams and robots."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from wharf.db.engine import Db
from wharf.db.models import Account, Robot, Team, TeamMember


@dataclass(frozen=True, slots=True)
class Found:
    name: str
    kind: str  # user | org | robot | team
    email: str | None
    org: str | None = None
    """A team's organization, or a robot's owner."""
    org_email: str | None = None


def _contains(column: InstrumentedAttribute[str], query: str) -> ColumnElement[bool]:
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")


def teams(db: Db, account_id: int, query: str, limit: int) -> list[Found]:
    """Teams the account is in, or of organizations it administers, whose names contain `query`."""
    mine = select(TeamMember.team_id).where(TeamMember.account_id == account_id)
    admined = select(Team.org_id).where(Team.role == "admin", Team.id.in_(mine))
    org = aliased(Account)
    rows = db.execute(
        select(Team.name, org.name, org.email)
        .join(org, org.id == Team.org_id)
        .where(_contains(Team.name, query), or_(Team.id.in_(mine), Team.org_id.in_(admined)))
        .order_by(org.name, Team.name)
        .limit(limit)
    )
    return [Found(t, "team", None, o, e) for t, o, e in rows]


def robots(db: Db, account_id: int, query: str, limit: int) -> list[Found]:
    """The account's robots and those of organizations it administers, matching `query`."""
    mine = select(TeamMember.team_id).where(TeamMember.account_id == account_id)
    admined = select(Team.org_id).where(Team.role == "admin", Team.id.in_(mine))
    owner = aliased(Account)
    rows = db.execute(
        select(Account.name, owner.name, owner.email)
        .join(Robot, Robot.account_id == Account.id)
        .join(owner, owner.id == Robot.owner_id)
        .where(
            _contains(Account.name, query),
            or_(Robot.owner_id == account_id, Robot.owner_id.in_(admined)),
        )
        .order_by(Account.name)
        .limit(limit)
    )
    return [Found(n, "robot", None, o, e) for n, o, e in rows]


def namespaces(db: Db, query: str, limit: int) -> list[Found]:
    """Enabled users and organizations whose names contain `query`."""
    rows = db.execute(
        select(Account.name, Account.kind, Account.email)
        .where(Account.kind.in_(("user", "org")), Account.enabled.is_(True), _contains(Account.name, query))
        .order_by(Account.name)
        .limit(limit)
    )
    return [Found(n, k, e) for n, k, e in rows]

"""One page of a namespace's members, robots or teams, as the web UI's Teams and Robot accounts
tabs show them: filtered by any part of the name, in name order, with the total. Each counts and
picks the page's ids first (from the team, robot and account indexes), then reads what its rows
show (teams of a member, counts of a team, memberships of a robot) for that page only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute

from wharf.core import accounts, grants, robots, teams
from wharf.core.accounts import AccountRecord
from wharf.core.paging import PER_PAGE, Paged, window
from wharf.core.robots import RobotRecord
from wharf.core.tags import like_literal
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.db.models import Account, Robot, Team, TeamMember

FILTER_MAX = 255


def _contains(column: ColumnElement[str] | InstrumentedAttribute[str], text: str) -> ColumnElement[bool]:
    """`text` anywhere in the name, in any case; `%` and `_` plain characters. Account and team
    names are lowercase, so the text is lowered rather than the column (the index stays usable
    for a range scan where the planner wants one)."""
    return column.like(f"%{like_literal(text.lower()[:FILTER_MAX])}%", escape="\\")


@dataclass(frozen=True, slots=True)
class Member:
    account: AccountRecord
    teams: list[str]
    """The organization's teams it is in, by name."""


def members(
    db: Db, org_id: int, *, contains: str = "", page: int = 1, per_page: int = PER_PAGE
) -> Paged[Member]:
    """The accounts in some team of the organization, with their teams, by name."""
    ids = select(TeamMember.account_id).join(Team, Team.id == TeamMember.team_id).where(Team.org_id == org_id)
    query = select(Account.id, Account.name).where(Account.id.in_(ids))
    if contains:
        query = query.where(_contains(Account.name, contains))
    total = int(db.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    page, offset = window(total, page, per_page)
    picked = [r.id for r in db.execute(query.order_by(Account.name).offset(offset).limit(per_page))]
    in_teams: dict[int, list[str]] = {i: [] for i in picked}
    if picked:
        for r in db.execute(
            select(TeamMember.account_id, Team.name)
            .join(Team, Team.id == TeamMember.team_id)
            .where(Team.org_id == org_id, TeamMember.account_id.in_(picked))
            .order_by(Team.name)
        ):
            in_teams[r.account_id].append(r.name)
    found = {a.id: a for a in (accounts.get_by_id(db, i) for i in picked) if a is not None}
    rows = [Member(found[i], in_teams[i]) for i in picked if i in found]
    return Paged(rows, total, page, per_page)


@dataclass(frozen=True, slots=True)
class TeamRow:
    team: TeamRecord
    members: int
    repositories: int


def teams_of(
    db: Db,
    org_id: int,
    *,
    member_id: int | None = None,
    only_member: bool = False,
    contains: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Paged[TeamRow]:
    """The organization's teams by name with their counts: all of them, or with `only_member`
    those `member_id` is in (none when it is None)."""
    where = [Team.org_id == org_id]
    if only_member:
        mine = select(TeamMember.team_id).where(
            TeamMember.account_id == (member_id if member_id is not None else -1)
        )
        where.append(Team.id.in_(mine))
    if contains:
        where.append(_contains(Team.name, contains))
    total = int(db.execute(select(func.count()).select_from(Team).where(*where)).scalar_one())
    page, offset = window(total, page, per_page)
    rows = db.execute(
        select(Team.id, Team.org_id, Team.name, Team.role, Team.description)
        .where(*where)
        .order_by(Team.name)
        .offset(offset)
        .limit(per_page)
    )
    out = []
    for r in rows:
        team = TeamRecord(*r)
        out.append(TeamRow(team, *teams.counts(db, team)))
    return Paged(out, total, page, per_page)


@dataclass(frozen=True, slots=True)
class RobotRow:
    robot: RobotRecord
    repositories: int
    """Repositories it holds a role on directly."""
    teams: list[str]


def robots_of(
    db: Db, owner: AccountRecord, *, contains: str = "", page: int = 1, per_page: int = PER_PAGE
) -> Paged[RobotRow]:
    """The namespace's robots by name, with their direct roles and (in an organization) teams."""
    where = [Robot.owner_id == owner.id]
    if contains:
        # The short name (after `owner+`): the namespace's robots all share the prefix.
        where.append(_contains(func.substr(Account.name, len(owner.name) + 2), contains))
    picked = (
        select(Account.name).select_from(Robot).join(Account, Account.id == Robot.account_id).where(*where)
    )
    total = int(db.execute(select(func.count()).select_from(picked.subquery())).scalar_one())
    page, offset = window(total, page, per_page)
    names = db.execute(picked.order_by(Account.name).offset(offset).limit(per_page)).scalars().all()
    out = []
    for robot in (robots.get_by_name(db, n) for n in names):
        if robot is None:
            continue
        held = grants.held_by_account(db, robot.account.id)
        in_teams = teams.names_of_member(db, owner.id, robot.account.id) if owner.kind == "org" else []
        out.append(RobotRow(robot, len(held), in_teams))
    return Paged(out, total, page, per_page)

"""An organization's teams as its pages show them: the list of teams with the organization's
members, and one team with its members, roles and what an administrator may give it, each in one
read."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import grants, org_pages, orgs, repositories, robots, team_sync, teams
from wharf.core.accounts import AccountRecord
from wharf.core.org_pages import Member, TeamRow
from wharf.core.paging import Paged
from wharf.core.repositories import RepositorySummary
from wharf.core.team_sync import SyncRecord
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime
from wharf.services.accounts import TeamCounts


@dataclass(frozen=True, slots=True)
class Membership:
    """Who is in the organization, for its administrators."""

    members: list[tuple[AccountRecord, list[str]]]
    """Every account in some team, with the names of its teams."""
    collaborators: list[tuple[AccountRecord, int]]
    """Users with a role on some repository but in no team, with how many repositories."""
    last_owner: str | None
    """The owners team's only member, who may not be removed; None when it has several."""


@dataclass(frozen=True, slots=True)
class TeamsOverview:
    teams: list[TeamCounts]
    membership: Membership | None
    """Only for administrators."""


async def overview(rt: Runtime, org: AccountRecord, member_id: int | None, *, admin: bool) -> TeamsOverview:
    """The teams of `org` with their counts: all of them for an administrator (`admin`, who also
    gets the membership), otherwise only those `member_id` is in."""

    def read(db: Db) -> TeamsOverview:
        listed = teams.list_teams(db, org.id)
        if not admin:
            mine = set(teams.names_of_member(db, org.id, member_id)) if member_id is not None else set()
            listed = [t for t in listed if t.name in mine]
        counted = [TeamCounts(t, *teams.counts(db, t)) for t in listed]
        if not admin:
            return TeamsOverview(counted, None)
        owners = teams.get(db, org.id, orgs.OWNERS)
        owner_names = [n for n, _ in teams.member_names(db, owners)] if owners else []
        membership = Membership(
            orgs.members(db, org.id),
            orgs.collaborators(db, org.id),
            owner_names[0] if len(owner_names) == 1 else None,
        )
        return TeamsOverview(counted, membership)

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class TeamDetail:
    members: list[tuple[str, str]]
    """(name, kind) of the team's members."""
    held: list[tuple[str, bool, str]]
    """(repository, is public, role) of the team's roles."""
    repositories: list[RepositorySummary] | None
    """The organization's repositories, for an administrator to give the team a role on."""
    org_robots: list[str] | None
    """The organization's robots, for an administrator to add to the team."""
    sync: SyncRecord | None = None
    """The directory group the team's users follow, when it is synchronized."""


async def detail(
    rt: Runtime, org: AccountRecord, team: TeamRecord, *, admin: bool, repository_limit: int
) -> TeamDetail:
    """A team's members and roles, and for an administrator (`admin`) the organization's
    repositories (at most `repository_limit`) and robots."""

    def read(db: Db) -> TeamDetail:
        members, held = teams.member_names(db, team), grants.held_by_team(db, team.id)
        sync = team_sync.get(db, team.id)
        if not admin:
            return TeamDetail(members, held, None, None, sync)
        return TeamDetail(
            members,
            held,
            repositories.listing(
                db, visible=None, include_public=False, namespace=org.name, limit=repository_limit
            ),
            [r.account.name for r in robots.list_for(db, org)],
            sync,
        )

    return await rt.db.read(read)


async def teams_page(
    rt: Runtime, org: AccountRecord, member_id: int | None, *, admin: bool, contains: str = "", page: int = 1
) -> Paged[TeamRow]:
    """One page of the organization's teams with their counts, by name: all of them for an
    administrator (`admin`), otherwise those `member_id` is in."""
    return await rt.db.read(
        org_pages.teams_of, org.id, member_id=member_id, only_member=not admin, contains=contains, page=page
    )


@dataclass(frozen=True, slots=True)
class MembersPage:
    members: Paged[Member]
    collaborators: list[tuple[AccountRecord, int]]
    """Users with a role on some repository but in no team, with how many repositories."""
    last_owner: str | None
    """The owners team's only member, who may not be removed; None when it has several."""


async def members_page(rt: Runtime, org: AccountRecord, *, contains: str = "", page: int = 1) -> MembersPage:
    """One page of the organization's members (accounts in some team) by name, for its
    administrators, with the outside collaborators."""

    def read(db: Db) -> MembersPage:
        owners = teams.get(db, org.id, orgs.OWNERS)
        owner_names = [n for n, _ in teams.member_names(db, owners)] if owners else []
        return MembersPage(
            org_pages.members(db, org.id, contains=contains, page=page),
            orgs.collaborators(db, org.id),
            owner_names[0] if len(owner_names) == 1 else None,
        )

    return await rt.db.read(read)

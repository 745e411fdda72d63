"""A repository's settings as its administrators see them: description, roles, the teams and
robots a role can go to, and one page of the notifications with their latest deliveries, in one
read."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import grants, notifications, repositories, robots, teams
from wharf.core.accounts import AccountRecord
from wharf.core.notifications import Attempt, NotificationRecord
from wharf.core.paging import PER_PAGE, Paged
from wharf.core.repositories import RepositoryRecord
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime


@dataclass(frozen=True, slots=True)
class RepositorySettings:
    description: str | None
    user_roles: list[tuple[AccountRecord, str]]
    team_roles: list[tuple[str, str]]
    teams: list[TeamRecord]
    """The namespace's teams (an organization's; none for a user's)."""
    robots: list[str]
    """The namespace's robots, by full name."""
    notifications: Paged[tuple[NotificationRecord, list[Attempt]]]
    """The page of notifications asked for, each with its latest `attempts` deliveries."""


async def read(
    rt: Runtime,
    namespace: AccountRecord,
    repo: RepositoryRecord,
    attempts: int,
    *,
    contains: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> RepositorySettings:
    """What the settings tab of `repo` (in `namespace`) shows: page `page` of the notifications
    whose title holds `contains`, with up to `attempts` deliveries of each."""

    def gather(db: Db) -> RepositorySettings:
        found = notifications.page_for(db, namespace, repo, contains=contains, page=page, per_page=per_page)
        return RepositorySettings(
            repositories.description(db, repo.id),
            grants.user_roles(db, repo),
            grants.team_roles(db, repo),
            teams.list_teams(db, namespace.id) if namespace.kind == "org" else [],
            [r.account.name for r in robots.list_for(db, namespace)],
            Paged(
                list(zip(found.rows, notifications.recent_attempts(db, found.rows, attempts), strict=True)),
                found.total,
                found.page,
                found.per_page,
            ),
        )

    return await rt.db.read(gather)

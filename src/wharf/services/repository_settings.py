"""A repository's settings as its administrators see them: description, roles, the teams and
robots a role can go to, and the notifications with their latest deliveries, in one read."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import grants, notifications, repositories, robots, teams
from wharf.core.accounts import AccountRecord
from wharf.core.notifications import Attempt, NotificationRecord
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
    notifications: list[tuple[NotificationRecord, list[Attempt]]]
    """Each notification with its latest `attempts` deliveries."""


async def read(
    rt: Runtime, namespace: AccountRecord, repo: RepositoryRecord, attempts: int
) -> RepositorySettings:
    """What the settings tab of `repo` (in `namespace`) shows, with up to `attempts` deliveries of
    each notification."""

    def gather(db: Db) -> RepositorySettings:
        found = notifications.list_for(db, namespace, repo)
        return RepositorySettings(
            repositories.description(db, repo.id),
            grants.user_roles(db, repo),
            grants.team_roles(db, repo),
            teams.list_teams(db, namespace.id) if namespace.kind == "org" else [],
            [r.account.name for r in robots.list_for(db, namespace)],
            list(zip(found, notifications.recent_attempts(db, found, attempts), strict=True)),
        )

    return await rt.db.read(gather)

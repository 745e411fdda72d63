"""Robot accounts as /api/v1 and the web create them, show them and give them roles: the robot
policy check before a robot is made, one robot's page in one read, and a role set on many
repositories at once in one write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf.auth.credentials import robots_allowed
from wharf.core import audit, grants, org_pages, repositories, robots, teams
from wharf.core.accounts import AccountRecord
from wharf.core.errors import NotFound
from wharf.core.org_pages import RobotRow
from wharf.core.paging import Paged
from wharf.core.repositories import RepositorySummary
from wharf.core.robots import RobotRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime

NO_ROLE = "none"
"""The role `set_roles` takes to remove a robot's role."""


class RobotsDisallowed(Exception):
    """ROBOTS_DISALLOW is set and the robot's full name is not in ROBOTS_WHITELIST."""


async def create(
    rt: Runtime,
    owner: AccountRecord,
    shortname: str,
    *,
    description: str,
    metadata: dict[str, Any] | None = None,
    by: audit.Actor,
) -> RobotRecord:
    """A new robot of `owner`, when the registry's robot policy allows its name (raises
    RobotsDisallowed otherwise, and core's AlreadyExists or InvalidInput)."""
    if not robots_allowed(rt, robots.full_name(owner.name, shortname)):
        raise RobotsDisallowed(robots.full_name(owner.name, shortname))
    return await rt.db.write(
        robots.create,
        rt.secrets,
        owner,
        shortname,
        description=description,
        metadata=metadata,
        actor=by,
    )


@dataclass(frozen=True, slots=True)
class RobotDetail:
    held: dict[str, str]
    """Repository full name -> the robot's role on it."""
    repositories: list[RepositorySummary]
    """The namespace's repositories, the ones a role can be given on."""
    federation: list[tuple[str, str]]
    teams: list[str]
    """The teams of an organization's robot; empty for a user's."""


async def detail(rt: Runtime, owner: AccountRecord, robot: RobotRecord, repository_limit: int) -> RobotDetail:
    """What a robot's page shows besides the robot: its roles, the namespace's repositories (at
    most `repository_limit`), the OIDC identities it trusts and its teams."""

    def read(db: Db) -> RobotDetail:
        held = {name: role for name, _, role in grants.held_by_account(db, robot.account.id)}
        return RobotDetail(
            held,
            repositories.listing(
                db, visible=None, include_public=False, namespace=owner.name, limit=repository_limit
            ),
            robots.federation(db, robot.account.id),
            teams.names_of_member(db, owner.id, robot.account.id) if owner.kind == "org" else [],
        )

    return await rt.db.read(read)


async def set_roles(
    rt: Runtime, owner: AccountRecord, robot: RobotRecord, names: list[str], role: str, by: audit.Actor
) -> int:
    """Give `robot` `role` on each of `owner`'s repositories `names` (or with NO_ROLE take away the
    role it holds there), all or none: raises NotFound, and nothing changes, when one of them does
    not exist. How many repositories changed."""

    def apply(db: Db) -> int:
        held = {n.partition("/")[2] for n, _, _ in grants.held_by_account(db, robot.account.id)}
        changed = 0
        for name in names:
            repo = repositories.get(db, owner.name, name)
            if repo is None:
                raise NotFound(f"there is no repository {owner.name}/{name}")
            if role != NO_ROLE:
                grants.set_user_role(db, repo, robot.account, role, by)
                changed += 1
            elif name in held:
                grants.delete_user_role(db, repo, robot.account, by)
                changed += 1
        return changed

    return await rt.db.write(apply)


async def page_of(rt: Runtime, owner: AccountRecord, *, contains: str = "", page: int = 1) -> Paged[RobotRow]:
    """One page of the namespace's robots for its Robot accounts tab, filtered by short name."""
    return await rt.db.read(org_pages.robots_of, owner, contains=contains, page=page)

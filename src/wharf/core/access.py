"""The reads behind an access decision (auth/permissions.py), one statement each, built once.

A token request makes them for every scope it names, and a `docker pull` asks for a token per
repository, so they are on the hottest path after blob reads (see docs/performance.md), and run on
the DBAPI cursor (`core._sql.first`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, literal, or_, select, union_all

from wharf.core import accounts
from wharf.core._sql import first, rows
from wharf.core.accounts import AccountRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Account, Repository, RepositoryPermission, Team, TeamMember

_NAMESPACE_AND_REPOSITORY = (
    select(*accounts.COLUMNS, Repository.id, Repository.name, Repository.visibility, Repository.state)
    .select_from(Account)
    .outerjoin(
        Repository,
        and_(Repository.namespace_id == Account.id, Repository.full_name == bindparam("full_name")),
    )
    .where(Account.name == bindparam("namespace"))
)
_REPOSITORY_AT = len(accounts.COLUMNS)


def namespace_and_repository(
    db: Db, namespace: str, name: str
) -> tuple[AccountRecord | None, RepositoryRecord | None]:
    """The namespace account and its repository `name` (None for what does not exist)."""
    row = first(db, _NAMESPACE_AND_REPOSITORY, {"namespace": namespace, "full_name": f"{namespace}/{name}"})
    if row is None:
        return None, None
    ns = accounts.record(row)
    repo: tuple[Any, ...] = tuple(row[_REPOSITORY_AT:])
    if repo[0] is None:
        return ns, None
    repo_id, repo_name, visibility, state = repo
    return ns, RepositoryRecord(repo_id, ns.id, ns.name, repo_name, visibility, state)


_MY_TEAMS = select(TeamMember.team_id).where(TeamMember.account_id == bindparam("me"))
_CALLER_ROLES = union_all(
    select(literal("team").label("source"), Team.role)
    .join(TeamMember, TeamMember.team_id == Team.id)
    .where(Team.org_id == bindparam("org"), TeamMember.account_id == bindparam("me")),
    select(literal("repository").label("source"), RepositoryPermission.role).where(
        RepositoryPermission.repository_id == bindparam("repository"),
        or_(RepositoryPermission.account_id == bindparam("me"), RepositoryPermission.team_id.in_(_MY_TEAMS)),
    ),
)


def caller_roles(
    db: Db, org_id: int | None, repository_id: int | None, account_id: int
) -> tuple[set[str], set[str]]:
    """(the roles of the organization's teams `account_id` is in, the roles it holds on the
    repository directly or through its teams), in one statement. None: no organization or no
    repository, an empty set."""
    team: set[str] = set()
    repository: set[str] = set()
    found = rows(db, _CALLER_ROLES, {"org": org_id, "repository": repository_id, "me": account_id})
    for source, role in found:
        (team if source == "team" else repository).add(role)
    return team, repository

"""Ending issued registry tokens at once: per-account credential generations.

Each account has a `credential_gen`. A registry token (and a federation robot token) carries the
value its account had when the credentials were checked; every request that uses the token
compares it, inside the transaction the request runs anyway, with `generation`. Every change
that must end what an account was given bumps the account's value in the same transaction as the
change itself: disabling it, a new password, regenerating a robot's token, leaving a team or an
organization, a repository role changed or removed (for a team's role: every member), a deleted
repository or namespace (whoever held a role there). A deleted account has no row, so its tokens
end with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, delete, select, union, update

from wharf.db.engine import Db
from wharf.db.models import (
    AccessToken,
    Account,
    AppToken,
    Repository,
    RepositoryPermission,
    Team,
    TeamMember,
    WebSession,
)

_GENERATION = select(Account.credential_gen).where(
    Account.id == bindparam("account_id"), Account.enabled.is_(True)
)
GENERATION_OF_CALLER = _GENERATION.scalar_subquery().label("caller_generation")
"""A column to add to a hot-path statement (bind `account_id`), so that the check costs no
statement of its own."""


GENERATION = _GENERATION
"""The statement of `generation`, for a service to run on its own (`Database.first_row`); its row
reads with `generation_in`."""


def generation_in(row: tuple[Any, ...] | None) -> int | None:
    """The generation in `GENERATION`'s row (None: no row, the account is gone or disabled)."""
    return None if row is None or row[0] is None else int(row[0])


def generation(db: Db, account_id: int) -> int | None:
    """The account's credential generation; None when it is gone or disabled."""
    value = db.execute(_GENERATION, {"account_id": account_id}).scalar()
    return None if value is None else int(value)


def revoke(db: Db, account_ids: list[int] | Select[Any]) -> None:
    """End every token issued so far to these accounts (ids, or a select of ids)."""
    db.execute(
        update(Account).where(Account.id.in_(account_ids)).values(credential_gen=Account.credential_gen + 1)
    )


def end_all(db: Db, account_ids: list[int]) -> None:
    """End everything these accounts could still sign in with without a password: issued registry
    tokens (`revoke`), app-specific tokens, OAuth access tokens and web sessions. For an account
    whose directory entry is gone (jobs/directory_check.py): the directory refuses its password
    from then on, and nothing else may outlive it."""
    if not account_ids:
        return
    revoke(db, account_ids)
    for model in (AppToken, AccessToken, WebSession):
        db.execute(delete(model).where(model.account_id.in_(account_ids)))


def team_members(team_ids: list[int] | Select[Any]) -> Select[Any]:
    return select(TeamMember.account_id).where(TeamMember.team_id.in_(team_ids))


def revoke_team(db: Db, team_id: int) -> None:
    """Every member of the team: its role (on the organization, or on a repository) changed."""
    revoke(db, team_members([team_id]))


def _grantees(repository_ids: Select[Any]) -> Select[Any]:
    """Accounts holding a role on these repositories, directly or through a team."""
    teams = select(RepositoryPermission.team_id).where(RepositoryPermission.repository_id.in_(repository_ids))
    direct = select(RepositoryPermission.account_id).where(
        RepositoryPermission.repository_id.in_(repository_ids), RepositoryPermission.account_id.is_not(None)
    )
    return select(union(direct, team_members(teams)).subquery().c[0])


def revoke_repository(db: Db, repository_id: int) -> None:
    """Whoever holds a role on the repository, before it is deleted."""
    revoke(db, _grantees(select(Repository.id).where(Repository.id == repository_id)))


def revoke_namespace(db: Db, namespace_id: int) -> None:
    """Whoever holds a role in the namespace (its teams' members, its repositories' grantees),
    before it is deleted."""
    revoke(db, _grantees(select(Repository.id).where(Repository.namespace_id == namespace_id)))
    revoke(db, team_members(select(Team.id).where(Team.org_id == namespace_id)))

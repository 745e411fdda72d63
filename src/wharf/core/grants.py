"""Roles on repositories: read, write or admin, for users and robots or for teams."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, insert, or_, select, update

from wharf.core import accounts, audit, orgs, revocation
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.db.models import Account, Repository, RepositoryPermission, Robot, Team, TeamMember

ROLES = ("read", "write", "admin")


def strongest(roles: set[str]) -> str | None:
    for role in reversed(ROLES):
        if role in roles:
            return role
    return None


def _check(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")


def foreign_robot(db: Db, account: AccountRecord, namespace_id: int) -> bool:
    """Whether `account` is a robot that belongs to another namespace than `namespace_id`."""
    if account.kind != "robot":
        return False
    owner_id = db.execute(select(Robot.owner_id).where(Robot.account_id == account.id)).scalar()
    return owner_id != namespace_id


def check_robot_namespace(db: Db, account: AccountRecord, namespace_id: int, namespace: str) -> None:
    """A robot may only hold roles in its own namespace (Quay refuses the rest with these words)."""
    if foreign_robot(db, account, namespace_id):
        raise InvalidInput(f"Cannot add robot {account.name} under namespace {namespace}")


def repository_roles(db: Db, repository_id: int, account_id: int) -> set[str]:
    """Roles `account_id` holds on the repository, directly or through its teams."""
    in_teams = select(TeamMember.team_id).where(TeamMember.account_id == account_id)
    rows = db.execute(
        select(RepositoryPermission.role).where(
            RepositoryPermission.repository_id == repository_id,
            or_(RepositoryPermission.account_id == account_id, RepositoryPermission.team_id.in_(in_teams)),
        )
    )
    return {r.role for r in rows}


def _set(db: Db, repo: RepositoryRecord, role: str, *, account_id: int | None, team_id: int | None) -> bool:
    """Whether the grant is new. A changed role ends the holder's tokens (a team's: its members')."""
    _check(role)
    column = RepositoryPermission.account_id if account_id is not None else RepositoryPermission.team_id
    key = account_id if account_id is not None else team_id
    existing = db.execute(
        select(RepositoryPermission.id, RepositoryPermission.role).where(
            RepositoryPermission.repository_id == repo.id, column == key
        )
    ).first()
    if existing is None:
        db.execute(
            insert(RepositoryPermission).values(
                repository_id=repo.id, account_id=account_id, team_id=team_id, role=role
            )
        )
        return True
    db.execute(update(RepositoryPermission).where(RepositoryPermission.id == existing.id).values(role=role))
    if existing.role != role:
        _revoke_holder(db, account_id, team_id)
    return False


def _revoke_holder(db: Db, account_id: int | None, team_id: int | None) -> None:
    if account_id is not None:
        revocation.revoke(db, [account_id])
    elif team_id is not None:
        revocation.revoke_team(db, team_id)


def set_user_role(
    db: Db, repo: RepositoryRecord, account: AccountRecord, role: str, actor: audit.Actor | None
) -> None:
    if account.kind == "org":
        raise InvalidInput("organizations cannot hold repository permissions; grant them to a team")
    check_robot_namespace(db, account, repo.namespace_id, repo.namespace)
    created = _set(db, repo, role, account_id=account.id, team_id=None)
    kind = "create_repo_permission" if created else "change_repo_permission"
    audit.record_for(
        db,
        kind,
        actor,
        repo,
        username=account.name,
        role=role,
    )


def set_team_role(
    db: Db, repo: RepositoryRecord, team: TeamRecord, role: str, actor: audit.Actor | None
) -> None:
    if team.org_id != repo.namespace_id:
        raise InvalidInput("only teams of the repository's own organization can be granted roles on it")
    created = _set(db, repo, role, account_id=None, team_id=team.id)
    kind = "create_repo_permission" if created else "change_repo_permission"
    audit.record_for(
        db,
        kind,
        actor,
        repo,
        team=team.name,
        role=role,
    )


def _delete(
    db: Db,
    repo: RepositoryRecord,
    *,
    account_id: int | None,
    team_id: int | None,
    missing: str,
    actor: audit.Actor | None,
    **who: str,
) -> None:
    holder = (
        RepositoryPermission.account_id == account_id
        if account_id is not None
        else RepositoryPermission.team_id == team_id
    )
    result = db.execute(
        delete(RepositoryPermission).where(RepositoryPermission.repository_id == repo.id, holder)
    )
    if result.rowcount == 0:
        raise NotFound(f"{missing} has no permission on {repo.full_name}")
    _revoke_holder(db, account_id, team_id)
    audit.record_for(
        db,
        "delete_repo_permission",
        actor,
        repo,
        **who,
    )


def delete_user_role(
    db: Db, repo: RepositoryRecord, account: AccountRecord, actor: audit.Actor | None
) -> None:
    _delete(
        db,
        repo,
        account_id=account.id,
        team_id=None,
        missing=account.name,
        actor=actor,
        username=account.name,
    )


def delete_team_role(db: Db, repo: RepositoryRecord, team: TeamRecord, actor: audit.Actor | None) -> None:
    _delete(
        db, repo, account_id=None, team_id=team.id, missing=f"team {team.name}", actor=actor, team=team.name
    )


def user_roles(db: Db, repo: RepositoryRecord) -> list[tuple[AccountRecord, str]]:
    rows = db.execute(
        select(RepositoryPermission.account_id, RepositoryPermission.role)
        .join(Account, Account.id == RepositoryPermission.account_id)
        .where(RepositoryPermission.repository_id == repo.id)
        .order_by(Account.name)
    )
    out = []
    for r in rows.all():
        account = accounts.get_by_id(db, r.account_id)
        if account is not None:
            out.append((account, r.role))
    return out


def team_roles(db: Db, repo: RepositoryRecord) -> list[tuple[str, str]]:
    rows = db.execute(
        select(Team.name, RepositoryPermission.role)
        .join(Team, Team.id == RepositoryPermission.team_id)
        .where(RepositoryPermission.repository_id == repo.id)
        .order_by(Team.name)
    )
    return [(r.name, r.role) for r in rows]


def _repository_roles(db: Db, condition: ColumnElement[bool]) -> list[tuple[str, bool, str]]:
    rows = db.execute(
        select(Repository.full_name, Repository.visibility, RepositoryPermission.role)
        .join(Repository, Repository.id == RepositoryPermission.repository_id)
        .where(condition)
        .order_by(Repository.full_name)
    )
    return [(r.full_name, r.visibility == "public", r.role) for r in rows]


def held_by_account(db: Db, account_id: int) -> list[tuple[str, bool, str]]:
    """(repository, is public, role) for every direct grant to a user or robot."""
    return _repository_roles(db, RepositoryPermission.account_id == account_id)


def held_by_team(db: Db, team_id: int) -> list[tuple[str, bool, str]]:
    return _repository_roles(db, RepositoryPermission.team_id == team_id)


def user_roles_and_membership(db: Db, repo: RepositoryRecord) -> list[tuple[AccountRecord, str, bool]]:
    """`user_roles`, each with whether the account is in a team of the repository's namespace."""
    return [(a, role, bool(orgs.team_roles(db, repo.namespace_id, a.id))) for a, role in user_roles(db, repo)]

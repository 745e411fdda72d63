"""Organizations: namespaces owned by teams. Creating one makes the creator an `owners` admin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from wharf.core import accounts, audit, revocation, teams
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NotFound
from wharf.db.engine import Db
from wharf.db.models import (
    AccessToken,
    Account,
    AppToken,
    Repository,
    RepositoryPermission,
    Team,
    TeamMember,
)

OWNERS = "owners"


def get(db: Db, name: str) -> AccountRecord | None:
    account = accounts.get_by_name(db, name)
    return account if account is not None and account.kind == "org" else None


def create(
    db: Db, name: str, email: str | None, creator: AccountRecord, actor: audit.Actor | None
) -> AccountRecord:
    accounts.check_username(name)
    if accounts.get_by_name(db, name) is not None:
        raise AlreadyExists(f"the name {name!r} is taken by a user or an organization", field="name")
    result = db.execute(
        insert(Account).values(
            name=name,
            kind="org",
            email=email,
            password_hash=None,
            enabled=True,
            is_superuser=False,
            created_ms=now_ms(),
        )
    )
    assert result.inserted_primary_key is not None
    org = AccountRecord(int(result.inserted_primary_key[0]), name, "org", True, False, email)
    audit.record(db, "org_create", actor, namespace_id=org.id, namespace=name, email=email)
    owners = teams.upsert(db, org, OWNERS, "admin", "Owners of the organization", actor)
    teams.add_member(db, org, owners, creator, actor)
    return org


def delete_org(db: Db, org: AccountRecord, actor: audit.Actor | None) -> None:
    audit.record(db, "org_delete", actor, namespace_id=None, namespace=org.name)
    accounts.delete_namespace(db, org.id)


def team_roles(db: Db, org_id: int, account_id: int) -> set[str]:
    """The roles of the organization's teams that `account_id` is a member of."""
    rows = db.execute(
        select(Team.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.org_id == org_id, TeamMember.account_id == account_id)
    )
    return {r.role for r in rows}


def members(db: Db, org_id: int) -> list[tuple[AccountRecord, list[str]]]:
    """Every account in some team of the organization, with the names of its teams."""
    rows = db.execute(
        select(Account.id, Team.name)
        .join(TeamMember, TeamMember.account_id == Account.id)
        .join(Team, Team.id == TeamMember.team_id)
        .where(Team.org_id == org_id)
        .order_by(Account.name, Team.name)
    )
    by_account: dict[int, list[str]] = {}
    for r in rows:
        by_account.setdefault(r.id, []).append(r.name)
    out = []
    for account_id, team_names in by_account.items():
        account = accounts.get_by_id(db, account_id)
        if account is not None:
            out.append((account, team_names))
    return sorted(out, key=lambda x: x[0].name)


def list_orgs(db: Db) -> list[AccountRecord]:
    rows = db.execute(select(Account.id).where(Account.kind == "org").order_by(Account.name))
    return [a for a in (accounts.get_by_id(db, r.id) for r in rows) if a is not None]


def _org_repositories(org_id: int) -> Any:
    return select(Repository.id).where(Repository.namespace_id == org_id)


def remove_member(db: Db, org: AccountRecord, member: AccountRecord, actor: audit.Actor | None) -> None:
    """Take `member` out of every team of the organization and drop its grants on the org's repositories."""
    team_ids = select(Team.id).where(Team.org_id == org.id)
    owners = teams.get(db, org.id, OWNERS)
    if owners is not None:
        owner_names = [n for n, _ in teams.member_names(db, owners)]
        if owner_names == [member.name]:
            raise InvalidInput(f"{member.name} is the last owner of {org.name}; add another owner first")
    removed_teams = db.execute(
        delete(TeamMember).where(TeamMember.account_id == member.id, TeamMember.team_id.in_(team_ids))
    ).rowcount
    removed_grants = db.execute(
        delete(RepositoryPermission).where(
            RepositoryPermission.account_id == member.id,
            RepositoryPermission.repository_id.in_(_org_repositories(org.id)),
        )
    ).rowcount
    if not removed_teams and not removed_grants:
        raise NotFound(f"{member.name} is not a member or collaborator of {org.name}")
    revocation.revoke(db, [member.id])
    audit.record(db, "org_remove_member", actor, namespace_id=org.id, member=member.name)


def collaborators(db: Db, org_id: int) -> list[tuple[AccountRecord, int]]:
    """Users with a direct grant on some repository of the organization but in none of its teams,
    with the number of repositories they hold a role on."""
    in_teams = (
        select(TeamMember.account_id).join(Team, Team.id == TeamMember.team_id).where(Team.org_id == org_id)
    )
    rows = db.execute(
        select(Account.id, func.count())
        .select_from(RepositoryPermission)
        .join(Account, Account.id == RepositoryPermission.account_id)
        .where(
            RepositoryPermission.repository_id.in_(_org_repositories(org_id)),
            RepositoryPermission.account_id.not_in(in_teams),
            Account.kind == "user",
        )
        .group_by(Account.id)
    ).all()
    out = [(a, int(n)) for a, n in ((accounts.get_by_id(db, r[0]), r[1]) for r in rows) if a is not None]
    return sorted(out, key=lambda x: x[0].name)


def take_ownership(
    db: Db, namespace: AccountRecord, superuser: AccountRecord, actor: audit.Actor | None
) -> None:
    """A superuser becomes an owner of a namespace. A user namespace becomes an organization, as in
    Quay: the user can no longer log in, and its memberships and grants elsewhere end."""
    was_user = namespace.kind == "user"
    if namespace.kind not in ("user", "org"):
        raise InvalidInput(f"{namespace.name} is neither a user nor an organization")
    if was_user:
        if namespace.id == superuser.id:
            raise InvalidInput("you cannot take ownership of your own namespace")
        db.execute(update(Account).where(Account.id == namespace.id).values(kind="org", password_hash=None))
        db.execute(delete(AccessToken).where(AccessToken.account_id == namespace.id))
        db.execute(delete(AppToken).where(AppToken.account_id == namespace.id))
        db.execute(delete(TeamMember).where(TeamMember.account_id == namespace.id))
        db.execute(delete(RepositoryPermission).where(RepositoryPermission.account_id == namespace.id))
        revocation.revoke(db, [namespace.id])
        namespace = AccountRecord(
            namespace.id, namespace.name, "org", namespace.enabled, False, namespace.email
        )
    owners = teams.get(db, namespace.id, OWNERS)
    if owners is None:
        owners = teams.upsert(db, namespace, OWNERS, "admin", "Owners of the organization", actor)
    teams.add_member(db, namespace, owners, superuser, actor)
    audit.record(
        db, "take_ownership", actor, namespace_id=namespace.id, namespace=namespace.name, was_user=was_user
    )


def of_member(db: Db, account_id: int) -> list[tuple[AccountRecord, set[str]]]:
    """The organizations an account is in a team of, with its team roles there."""
    rows = db.execute(
        select(Team.org_id, Team.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.account_id == account_id)
    )
    roles: dict[int, set[str]] = {}
    for r in rows:
        roles.setdefault(r.org_id, set()).add(r.role)
    found = [(accounts.get_by_id(db, org_id), r) for org_id, r in roles.items()]
    return sorted(((o, r) for o, r in found if o is not None), key=lambda x: x[0].name)

"""Organizations: namespaces owned by teams. Creating one makes the creator an `owners` admin."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from wharf.core import accounts, audit, teams
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists
from wharf.db.engine import Db
from wharf.db.models import Account, Team, TeamMember

OWNERS = "owners"


def get(db: Db, name: str) -> AccountRecord | None:
    account = accounts.get_by_name(db, name)
    return account if account is not None and account.kind == "org" else None


def create(
    db: Db, name: str, email: str | None, creator: AccountRecord, actor: audit.Actor | None
) -> AccountRecord:
    accounts.check_username(name)
    if accounts.get_by_name(db, name) is not None:
        raise AlreadyExists(f"the name {name!r} is taken by a user or an organization")
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
    db.execute(delete(Account).where(Account.id == org.id))


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

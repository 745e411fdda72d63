"""Default permissions ("prototypes") of an organization, applied when a repository is created."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, insert, or_, select, update

from wharf.core import accounts, audit, grants, teams
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.db.models import Prototype


@dataclass(frozen=True, slots=True)
class PrototypeRecord:
    id: str
    role: str
    activating: AccountRecord | None
    delegate_account: AccountRecord | None
    delegate_team: TeamRecord | None


_COLUMNS = (
    Prototype.id,
    Prototype.role,
    Prototype.activating_account_id,
    Prototype.delegate_account_id,
    Prototype.delegate_team_id,
)


def _team_by_id(db: Db, org_id: int, team_id: int | None) -> TeamRecord | None:
    if team_id is None:
        return None
    return next((t for t in teams.list_teams(db, org_id) if t.id == team_id), None)


def _record(db: Db, org_id: int, row: object) -> PrototypeRecord:
    def account(account_id: int | None) -> AccountRecord | None:
        return accounts.get_by_id(db, account_id) if account_id is not None else None

    return PrototypeRecord(
        row.id,  # type: ignore[attr-defined]
        row.role,  # type: ignore[attr-defined]
        account(row.activating_account_id),  # type: ignore[attr-defined]
        account(row.delegate_account_id),  # type: ignore[attr-defined]
        _team_by_id(db, org_id, row.delegate_team_id),  # type: ignore[attr-defined]
    )


def list_for(db: Db, org: AccountRecord) -> list[PrototypeRecord]:
    rows = db.execute(select(*_COLUMNS).where(Prototype.org_id == org.id).order_by(Prototype.id)).all()
    return [_record(db, org.id, r) for r in rows]


def get(db: Db, org: AccountRecord, prototype_id: str) -> PrototypeRecord:
    row = db.execute(
        select(*_COLUMNS).where(Prototype.org_id == org.id, Prototype.id == prototype_id)
    ).first()
    if row is None:
        raise NotFound("no such default permission")
    return _record(db, org.id, row)


def create(
    db: Db,
    org: AccountRecord,
    role: str,
    *,
    delegate_account: AccountRecord | None,
    delegate_team: TeamRecord | None,
    activating: AccountRecord | None,
    actor: audit.Actor | None,
) -> PrototypeRecord:
    if role not in grants.ROLES:
        raise InvalidInput(f"role must be one of {', '.join(grants.ROLES)}", field="role")
    if (delegate_account is None) == (delegate_team is None):
        raise InvalidInput("the delegate is one user, robot or team")
    if delegate_account is not None and delegate_account.kind == "org":
        raise InvalidInput("an organization cannot be a delegate", field="user")
    if delegate_account is not None:
        grants.check_robot_namespace(db, delegate_account, org.id, org.name)
    if delegate_team is not None and delegate_team.org_id != org.id:
        raise InvalidInput("the team must belong to the organization")
    prototype_id = str(uuid.uuid4())
    db.execute(
        insert(Prototype).values(
            id=prototype_id,
            org_id=org.id,
            activating_account_id=activating.id if activating else None,
            delegate_account_id=delegate_account.id if delegate_account else None,
            delegate_team_id=delegate_team.id if delegate_team else None,
            role=role,
        )
    )
    audit.record(
        db,
        "create_prototype_permission",
        actor,
        namespace_id=org.id,
        role=role,
        delegate=delegate_account.name if delegate_account else delegate_team.name if delegate_team else None,
        activating_username=activating.name if activating else None,
    )
    return get(db, org, prototype_id)


def create_named(
    db: Db,
    org: AccountRecord,
    role: str,
    *,
    delegate_kind: str,
    delegate_name: str,
    activating_name: str | None,
    actor: audit.Actor | None,
) -> PrototypeRecord:
    """`create`, with the delegate (a team of the organization, or a user or robot) and the
    activating user given by name, as the API and the web form give them."""
    delegate_account = delegate_team = activating = None
    if delegate_kind == "team":
        delegate_team = teams.get(db, org.id, delegate_name)
        if delegate_team is None:
            raise NotFound(f"no team {delegate_name!r} in {org.name}", field="team")
    elif delegate_kind == "user":
        delegate_account = accounts.get_by_name(db, delegate_name)
        if delegate_account is None:
            raise NotFound(f"no user or robot named {delegate_name!r}", field="user")
    else:
        raise InvalidInput("the delegate is a user (or robot) or a team")
    if activating_name is not None:
        activating = accounts.get_by_name(db, activating_name)
        if activating is None:
            raise NotFound(f"no user named {activating_name!r}", field="activating")
    return create(
        db,
        org,
        role,
        delegate_account=delegate_account,
        delegate_team=delegate_team,
        activating=activating,
        actor=actor,
    )


def change_role(
    db: Db, org: AccountRecord, prototype_id: str, role: str, actor: audit.Actor | None
) -> PrototypeRecord:
    if role not in grants.ROLES:
        raise InvalidInput(f"role must be one of {', '.join(grants.ROLES)}", field="role")
    get(db, org, prototype_id)
    db.execute(update(Prototype).where(Prototype.id == prototype_id).values(role=role))
    audit.record(db, "modify_prototype_permission", actor, namespace_id=org.id, role=role)
    return get(db, org, prototype_id)


def delete_prototype(db: Db, org: AccountRecord, prototype_id: str, actor: audit.Actor | None) -> None:
    get(db, org, prototype_id)
    db.execute(delete(Prototype).where(Prototype.id == prototype_id))
    audit.record(db, "delete_prototype_permission", actor, namespace_id=org.id)


def apply(db: Db, repo: RepositoryRecord, creator_id: int | None, actor: audit.Actor | None) -> None:
    """Grant what the organization's default permissions say for a repository just created."""
    who: list[ColumnElement[bool]] = [Prototype.activating_account_id.is_(None)]
    if creator_id is not None:
        who.append(Prototype.activating_account_id == creator_id)
    rows = db.execute(select(*_COLUMNS).where(Prototype.org_id == repo.namespace_id, or_(*who))).all()
    for row in rows:
        proto = _record(db, repo.namespace_id, row)
        if proto.delegate_account is not None:
            if grants.foreign_robot(db, proto.delegate_account, repo.namespace_id):
                continue  # refused since 0018; one left from before must not block creating repositories
            grants.set_user_role(db, repo, proto.delegate_account, proto.role, actor)
        elif proto.delegate_team is not None:
            grants.set_team_role(db, repo, proto.delegate_team, proto.role, actor)

"""Teams whose users follow a directory group (Quay's team synchronization).

An organization's team is bound to a group (`{"group_dn": ...}` for LDAP); a job reads the
group's people and makes the team's users exactly them: it adds those missing (making the
account of anyone who has never signed in, as Quay does) and removes the directory-linked users
no longer in the group. Robots, and local accounts (which no group can name), are left alone:
they are still added and removed by hand. While a team is synchronized, its users cannot be
changed by hand (core/teams.py refuses it).

Every change goes through core/teams.py, so a removal ends the member's tokens as any removal
does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update

from wharf.core import accounts, audit, federated_logins, teams
from wharf.core._sql import insert_ignore
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.db.engine import Db
from wharf.db.models import Account, FederatedLogin, Team, TeamMember, TeamSync

SYNC_ACTOR = audit.Actor(None, "team synchronization")
"""Who the audit log says changed a synced team."""


@dataclass(frozen=True, slots=True)
class SyncRecord:
    team_id: int
    service: str
    config: dict[str, Any]
    created_ms: int
    last_updated_ms: int | None
    last_error: str | None
    last_error_ms: int | None


_COLUMNS = (
    TeamSync.team_id,
    TeamSync.service,
    TeamSync.config,
    TeamSync.created_ms,
    TeamSync.last_updated_ms,
    TeamSync.last_error,
    TeamSync.last_error_ms,
)


def _record(row: Any) -> SyncRecord:
    return SyncRecord(
        row.team_id,
        row.service,
        json.loads(row.config),
        row.created_ms,
        row.last_updated_ms,
        row.last_error,
        row.last_error_ms,
    )


def get(db: Db, team_id: int) -> SyncRecord | None:
    row = db.execute(select(*_COLUMNS).where(TeamSync.team_id == team_id)).first()
    return _record(row) if row is not None else None


def enable(
    db: Db,
    org: AccountRecord,
    team: teams.TeamRecord,
    service: str,
    config: dict[str, Any],
    actor: audit.Actor | None,
) -> SyncRecord:
    """Binds the team to a group; the next run of the job brings its users in step."""
    if team.name == "owners":
        # A group emptied by mistake would leave the organization without an owner.
        raise InvalidInput("the owners team cannot be synchronized with a directory group")
    if get(db, team.id) is not None:
        raise InvalidInput(f"team {team.name} is already synchronized; disable it first to change the group")
    insert_ignore(
        db,
        TeamSync,
        {"team_id": team.id, "service": service, "config": json.dumps(config), "created_ms": now_ms()},
    )
    audit.record(
        db, "enable_team_sync", actor, namespace_id=org.id, team=team.name, service=service, config=config
    )
    found = get(db, team.id)
    assert found is not None
    return found


def disable(db: Db, org: AccountRecord, team: teams.TeamRecord, actor: audit.Actor | None) -> None:
    """Unbinds the team: its members stay, and are edited by hand again."""
    result = db.execute(delete(TeamSync).where(TeamSync.team_id == team.id))
    if result.rowcount:
        audit.record(db, "disable_team_sync", actor, namespace_id=org.id, team=team.name)


def stale(db: Db, cutoff_ms: int, limit: int) -> list[SyncRecord]:
    """Synced teams not brought in step since `cutoff_ms`, the never-synced first."""
    rows = db.execute(
        select(*_COLUMNS)
        .where(or_(TeamSync.last_updated_ms.is_(None), TeamSync.last_updated_ms <= cutoff_ms))
        .order_by(TeamSync.last_updated_ms.is_not(None), TeamSync.last_updated_ms, TeamSync.team_id)
        .limit(limit)
    ).all()
    return [_record(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Outcome:
    added: list[str]
    removed: list[str]


def apply(db: Db, team_id: int, service: str, members: Sequence[tuple[str, str | None]]) -> Outcome | None:
    """Makes the team's `service`-linked users exactly `members` ((ident, email) pairs), and
    records the synchronization as done. None when the team is no longer synchronized."""
    sync = get(db, team_id)
    team_row = db.execute(select(Team.org_id, Team.name).where(Team.id == team_id)).first()
    if sync is None or team_row is None:
        return None
    team = teams.get(db, team_row.org_id, team_row.name)
    org = accounts.get_by_id(db, team_row.org_id)
    assert team is not None and org is not None
    wanted: dict[int, AccountRecord] = {}
    for ident, email in members:
        account = federated_logins.link(db, service, ident, email)
        if account.enabled:
            wanted[account.id] = account
    present = _linked_members(db, team_id, service)
    added: list[str] = []
    for account_id, account in wanted.items():
        if account_id not in present:
            teams.add_member(db, org, team, account, SYNC_ACTOR, by_sync=True)
            added.append(account.name)
    removed: list[str] = []
    for account_id in present.keys() - wanted.keys():
        gone = accounts.get_by_id(db, account_id)
        assert gone is not None
        teams.remove_member(db, org, team, gone, SYNC_ACTOR, by_sync=True)
        removed.append(gone.name)
    db.execute(
        update(TeamSync)
        .where(TeamSync.team_id == team_id)
        .values(last_updated_ms=now_ms(), last_error=None, last_error_ms=None)
    )
    return Outcome(sorted(added), sorted(removed))


def _linked_members(db: Db, team_id: int, service: str) -> dict[int, str]:
    """{account id: name} of the team's members linked at `service` (the ones a sync manages)."""
    rows = db.execute(
        select(Account.id, Account.name)
        .join(TeamMember, TeamMember.account_id == Account.id)
        .join(FederatedLogin, FederatedLogin.account_id == Account.id)
        .where(TeamMember.team_id == team_id, FederatedLogin.service == service)
    ).all()
    return {r.id: r.name for r in rows}


def record_error(db: Db, team_id: int, message: str) -> None:
    """Why the last attempt failed; the team keeps its members and is tried again next run."""
    db.execute(
        update(TeamSync)
        .where(TeamSync.team_id == team_id)
        .values(last_error=message[:2000], last_error_ms=now_ms())
    )

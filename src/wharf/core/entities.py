"""The entity search the permission dialogs use (Quay's getMatchingEntities): users, a
namespace's robots and an organization's teams whose names start with what was typed.

Names are matched by prefix through the names' index: GLOB on SQLite (LIKE there ignores case
and so no index serves it), LIKE on PostgreSQL with the pattern-ops index of migration 0035 (a
plain index serves LIKE only under the C collation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy import false as sql_false

from wharf.db.engine import Db
from wharf.db.models import Account, Team, TeamMember

LIMIT = 10
"""Results of each kind, as Quay's."""
_NAME_CHARS = re.compile(r"^[a-z0-9._+-]*$")
"""What account and team names are made of: a prefix with anything else matches nothing (and
cannot carry a pattern's wildcards)."""


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    kind: str  # user | robot
    email: str | None
    is_org_member: bool | None
    """Whether the account is in a team of the organization searched in; None without one."""


def normalize(prefix: str) -> str | None:
    """The prefix as names are spelled (lowercase, no spaces, as Quay folds it); None when no
    name can start with it."""
    folded = prefix.replace(" ", "").lower()
    return folded if _NAME_CHARS.match(folded) else None


def _starts_with(db: Db, column: Any, prefix: str) -> ColumnElement[bool]:
    if db.dialect.name == "sqlite":
        # No GLOB metacharacter ('*', '?', '[') can be in a normalized prefix.
        return column.op("GLOB")(prefix + "*")  # type: ignore[no-any-return]
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")  # type: ignore[no-any-return]


def accounts_query(
    db: Db, prefix: str, *, robot_namespace: str | None, org_id: int | None, limit: int = LIMIT
) -> Select[Any]:
    """The statement `matching_accounts` runs (the query-plan tests read it)."""
    wanted = [and_(Account.kind == "user", Account.enabled.is_(True), _starts_with(db, Account.name, prefix))]
    if robot_namespace is not None:
        full = prefix if prefix.startswith(f"{robot_namespace}+") else f"{robot_namespace}+{prefix}"
        wanted.append(and_(Account.kind == "robot", _starts_with(db, Account.name, full)))
    member: Any = sql_false().label("member")
    if org_id is not None:
        member = (
            exists()
            .where(TeamMember.account_id == Account.id, TeamMember.team_id == Team.id, Team.org_id == org_id)
            .label("member")
        )
    return (
        select(Account.name, Account.kind, Account.email, member)
        .where(or_(*wanted))
        .order_by(Account.name)
        .limit(limit)
    )


def matching_accounts(
    db: Db, prefix: str, *, robot_namespace: str | None, org_id: int | None, limit: int = LIMIT
) -> list[Entity]:
    """Enabled users whose names start with `prefix`, and the robots of `robot_namespace` whose
    short (or full) names do, by name; each marked as a member of organization `org_id` or not."""
    rows = db.execute(accounts_query(db, prefix, robot_namespace=robot_namespace, org_id=org_id, limit=limit))
    return [Entity(r.name, r.kind, r.email, bool(r.member) if org_id is not None else None) for r in rows]


def matching_teams(db: Db, org_id: int, prefix: str, *, limit: int = LIMIT) -> list[str]:
    """The names of the organization's teams that start with `prefix` (the org_id+name unique index)."""
    rows = db.execute(
        select(Team.name)
        .where(Team.org_id == org_id, _starts_with(db, Team.name, prefix))
        .order_by(Team.name)
        .limit(limit)
    )
    return [r.name for r in rows]

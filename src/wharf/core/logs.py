"""Reading the usage logs (audit.py writes them): by namespace, repository, performer, time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true

from wharf.core import accounts
from wharf.core.accounts import AccountRecord
from wharf.db.engine import Db
from wharf.db.models import Account, LogEntry

DAY_MS = 86_400_000
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Scope:
    """Which entries: those of a namespace, of a repository, concerning an account (its namespace
    or its own actions), or all of them (superusers)."""

    namespace_id: int | None = None
    repository_id: int | None = None
    involving_id: int | None = None
    performer_id: int | None = None
    text: str | None = None
    """Only entries whose kind, details, address or performer's name contain this (any case)."""

    def clause(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.namespace_id is not None:
            parts.append(LogEntry.account_id == self.namespace_id)
        if self.repository_id is not None:
            parts.append(LogEntry.repository_id == self.repository_id)
        if self.involving_id is not None:
            parts.append(
                or_(LogEntry.account_id == self.involving_id, LogEntry.performer_id == self.involving_id)
            )
        if self.performer_id is not None:
            parts.append(LogEntry.performer_id == self.performer_id)
        if self.text:
            parts.append(_contains(self.text))
        return and_(true(), *parts)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(text: str) -> ColumnElement[bool]:
    pattern = _like(text)
    named = select(Account.id).where(Account.name.ilike(pattern, escape="\\"))
    found = [
        LogEntry.kind.ilike(pattern, escape="\\"),
        LogEntry.metadata_json.ilike(pattern, escape="\\"),
        LogEntry.ip.ilike(pattern, escape="\\"),
        LogEntry.performer_id.in_(named),
    ]
    if not text.isascii():
        # Entries written before details were stored as UTF-8 hold non-ASCII text as \u escapes.
        found.append(LogEntry.metadata_json.ilike(_like(json.dumps(text)[1:-1]), escape="\\"))
    return or_(*found)


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    kind: str
    created_ms: int
    ip: str | None
    metadata: dict[str, Any]
    performer: AccountRecord | None
    namespace: AccountRecord | None


def page(
    db: Db,
    scope: Scope,
    start_ms: int,
    end_ms: int,
    *,
    before: tuple[int, int] | None,
    after: tuple[int, int] | None = None,
    limit: int = MAX_PAGE,
) -> list[Entry]:
    """Newest first, within [start_ms, end_ms); `before` = (created_ms, id) of the last entry seen.
    `after` instead pages back towards newer entries: the `limit` entries just newer than it."""
    query = select(
        LogEntry.id,
        LogEntry.kind,
        LogEntry.created_ms,
        LogEntry.ip,
        LogEntry.metadata_json,
        LogEntry.performer_id,
        LogEntry.account_id,
    ).where(scope.clause(), LogEntry.created_ms >= start_ms, LogEntry.created_ms < end_ms)
    if before is not None:
        created, entry_id = before
        query = query.where(
            or_(LogEntry.created_ms < created, and_(LogEntry.created_ms == created, LogEntry.id < entry_id))
        )
    if after is not None:
        created, entry_id = after
        query = query.where(
            or_(LogEntry.created_ms > created, and_(LogEntry.created_ms == created, LogEntry.id > entry_id))
        )
        oldest_first = query.order_by(LogEntry.created_ms, LogEntry.id).limit(limit)
        rows = list(reversed(db.execute(oldest_first).all()))
    else:
        newest_first = query.order_by(LogEntry.created_ms.desc(), LogEntry.id.desc()).limit(limit)
        rows = list(db.execute(newest_first).all())
    cache: dict[int, AccountRecord | None] = {}

    def account(account_id: int | None) -> AccountRecord | None:
        if account_id is None:
            return None
        if account_id not in cache:
            cache[account_id] = accounts.get_by_id(db, account_id)
        return cache[account_id]

    return [
        Entry(
            r.id,
            r.kind,
            r.created_ms,
            r.ip,
            json.loads(r.metadata_json or "{}"),
            account(r.performer_id),
            account(r.account_id),
        )
        for r in rows
    ]


def aggregate(db: Db, scope: Scope, start_ms: int, end_ms: int) -> list[tuple[str, int, int]]:
    """(kind, count, day start in ms) for each kind and UTC day."""
    day = (LogEntry.created_ms // DAY_MS).label("day")
    rows = db.execute(
        select(LogEntry.kind, day, func.count().label("n"))
        .where(scope.clause(), LogEntry.created_ms >= start_ms, LogEntry.created_ms < end_ms)
        .group_by(LogEntry.kind, day)
        .order_by(day, LogEntry.kind)
    )
    return [(r.kind, int(r.n), int(r.day) * DAY_MS) for r in rows]

"""Log entries for events that change nothing (pulls, failed pushes): written in batches.

A change writes its log entry in its own transaction (audit.record). A pull changes nothing, and a
database write per pull would cost more than the pull itself, so pull entries (and those of
failed requests, whose transaction rolled back) are buffered in memory and inserted together,
every second or every 500 entries. A crash loses at most that last second of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from sqlalchemy import insert, select

from wharf.core.audit import Actor
from wharf.core.clock import now_ms
from wharf.db.engine import Database, Db
from wharf.db.models import Account, LogEntry, Repository

log = logging.getLogger("wharf.audit")

FLUSH_INTERVAL_S = 1.0
MAX_PENDING = 500
# Past this, entries are dropped (and counted) rather than held while the database is away.
MAX_BUFFERED = 100_000

_INSERT = insert(LogEntry)
_NAME = "_repository_name"


def _write(db: Db, rows: list[dict[str, Any]]) -> None:
    names = {r[_NAME] for r in rows if r[_NAME] and r["account_id"] is None}
    found: dict[str, tuple[int | None, int | None]] = {}
    if names:
        for repo in db.execute(
            select(Repository.full_name, Repository.id, Repository.namespace_id).where(
                Repository.full_name.in_(names)
            )
        ):
            found[repo.full_name] = (repo.namespace_id, repo.id)
        namespaces = {n.partition("/")[0] for n in names if n not in found}
        if namespaces:
            by_name = select(Account.name, Account.id).where(Account.name.in_(namespaces))
            ids = {a.name: a.id for a in db.execute(by_name)}
            for n in names - set(found):
                found[n] = (ids.get(n.partition("/")[0]), None)
    out = []
    for r in rows:
        name = r[_NAME]
        row = {k: v for k, v in r.items() if k != _NAME}
        if name in found:
            row["account_id"], row["repository_id"] = found[name]
        out.append(row)
    db.execute(_INSERT, out)


class AuditBuffer:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._rows: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self.dropped = 0

    def add(
        self,
        kind: str,
        actor: Actor | None,
        *,
        namespace_id: int | None = None,
        repository_id: int | None = None,
        repository_name: str | None = None,
        **metadata: Any,
    ) -> None:
        """Queue an entry. `repository_name` ("ns/repo") is resolved to the ids when the batch is
        written, for callers that failed before they found the repository."""
        if len(self._rows) >= MAX_BUFFERED:
            self.dropped += 1
            return
        self._rows.append(
            {
                "kind": kind,
                "account_id": namespace_id,
                "performer_id": actor.account_id if actor else None,
                "repository_id": repository_id,
                "ip": actor.ip if actor else None,
                "created_ms": now_ms(),
                "metadata_json": json.dumps(metadata, separators=(",", ":"), default=str),
                _NAME: repository_name,
            }
        )
        if len(self._rows) >= MAX_PENDING:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def flush(self) -> int:
        rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            await self._db.write(_write, rows)
        except Exception:
            log.exception("could not write %d log entries; keeping them for the next attempt", len(rows))
            self._rows = rows + self._rows
            return 0
        return len(rows)

    async def run(self) -> None:
        """Flush every FLUSH_INTERVAL_S, or sooner when many entries wait, until cancelled."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
                self._wake.clear()
                await self.flush()
        finally:
            await self.flush()

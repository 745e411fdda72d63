"""Log entries for events that change nothing (pulls, failed pushes): written in batches.

A change writes its log entry in its own transaction (audit.record). A pull changes nothing, and a
database write per pull would cost more than the pull itself, so pull entries (and those of
failed requests, whose transaction rolled back) are buffered in memory and inserted together,
every second or every 500 entries. A crash loses at most that last second of them.

Pull statistics (core/pull_stats.py) ride on the same batches: `pulled` counts a pull in memory and
the batch adds the counts to the counter rows in the transaction that inserts its log entries, so
counting costs a pull one dictionary update and no write of its own. With pull log entries off
(ACTION_LOG_PULLS) the batches carry the counters alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from sqlalchemy import select

from wharf.core import pull_stats
from wharf.core.clock import now_ms
from wharf.db.engine import Database, Db
from wharf.db.models import Account, Repository

log = logging.getLogger("wharf.audit")

FLUSH_INTERVAL_S = 1.0
MAX_PENDING = 500
# Past this, entries are dropped (and counted) rather than held while the database is away.
MAX_BUFFERED = 100_000

# One pending entry, kept as a flat tuple until its batch is written: building dicts and JSON on the
# event loop for every pull cost more than writing the batch (and kept the garbage collector busy).
Pending = tuple[
    str, int | None, int | None, int | None, str | None, int, dict[str, Any], str | None
]  # kind, namespace id, performer id, repository id, ip, time, metadata, "ns/repo" to resolve
_COLUMNS = "kind, account_id, performer_id, repository_id, ip, created_ms, metadata_json"


def _resolve(db: Db, names: set[str]) -> dict[str, tuple[int | None, int | None]]:
    """ "ns/repo" -> (namespace id, repository id) for entries of requests that failed early."""
    found: dict[str, tuple[int | None, int | None]] = {}
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
    return found


def _write(db: Db, rows: list[Pending], pulls: pull_stats.Counter) -> None:
    pull_stats.write(db, pulls)
    if rows:
        _insert(db, rows)


def _insert(db: Db, rows: list[Pending]) -> None:
    names = {r[7] for r in rows if r[7] and r[1] is None}
    found = _resolve(db, names) if names else {}
    dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
    params = []
    for kind, namespace_id, performer_id, repository_id, ip, created_ms, metadata, name in rows:
        if name in found:
            namespace_id, repository_id = found[name]
        params.append((kind, namespace_id, performer_id, repository_id, ip, created_ms, dumps(metadata)))
    # The driver's own executemany: SQLAlchemy's per-row parameter handling was half the cost.
    mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
    db.exec_driver_sql(f"INSERT INTO log_entries ({_COLUMNS}) VALUES ({', '.join([mark] * 7)})", params)


class AuditBuffer:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._rows: list[Pending] = []
        self._pulls = pull_stats.Counter()
        self._wake = asyncio.Event()
        self.dropped = 0

    def add(
        self,
        kind: str,
        performer_id: int | None,
        ip: str | None,
        *,
        namespace_id: int | None = None,
        repository_id: int | None = None,
        repository_name: str | None = None,
        **metadata: Any,
    ) -> None:
        """Queue an entry. `repository_name` ("ns/repo") is resolved to the ids when the batch is
        written, for callers that failed before they found the repository. The performer comes as
        bare values, not an `Actor`: building one per pull was a measurable part of its cost."""
        if len(self._rows) >= MAX_BUFFERED:
            self.dropped += 1
            return
        if self._db.read_only:
            return  # read-only mode writes nothing, pull logs included (as Quay's log_action)
        self._rows.append(
            (
                kind,
                namespace_id,
                performer_id,
                repository_id,
                ip,
                now_ms(),
                metadata,
                repository_name,
            )
        )
        if len(self._rows) >= MAX_PENDING:
            self._wake.set()

    def pulled(self, repository_id: int, tag: str | None, manifest_digest: str) -> None:
        """Count a pull of `manifest_digest` (by `tag`, or by digest when None) for the pull
        statistics; written with the next batch."""
        if self._db.read_only:
            return
        pulls = self._pulls
        key = (repository_id, tag, manifest_digest)
        if len(pulls) >= MAX_BUFFERED and key not in pulls.counts:
            self.dropped += 1
            return
        pulls.add(key, now_ms())
        if len(pulls) >= MAX_PENDING:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Entries and distinct pull counters waiting for the next batch."""
        return len(self._rows) + len(self._pulls)

    async def flush(self) -> int:
        """Write what waits, in one transaction; returns the number of log entries written."""
        rows, self._rows = self._rows, []
        pulls, self._pulls = self._pulls, pull_stats.Counter()
        if not rows and not pulls:
            return 0
        try:
            await self._db.write(_write, rows, pulls)
        except Exception:
            log.exception(
                "could not write %d log entries and %d pull counters; keeping them for the next attempt",
                len(rows),
                len(pulls),
            )
            self._rows = rows + self._rows
            pulls.merge(self._pulls)
            self._pulls = pulls
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

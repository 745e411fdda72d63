"""The usage-logs view's page query (core/logs.page) reads a repository's or a namespace's
entries from their (id, created_ms) indexes, newest first, without sorting them all: a
repository with millions of pulls opens on its last 50."""

from __future__ import annotations

from sqlalchemy import select, text

from wharf.core import logs
from wharf.db.engine import Database, Db
from wharf.db.models import LogEntry


def _plan(c: Db, scope: logs.Scope) -> str:
    query = (
        select(LogEntry.id)
        .where(scope.clause(), LogEntry.created_ms >= 0, LogEntry.created_ms < 10**13)
        .where(LogEntry.created_ms < 10**12)
        .order_by(LogEntry.created_ms.desc(), LogEntry.id.desc())
        .limit(50)
    )
    compiled = query.compile(c, compile_kwargs={"literal_binds": True})
    if c.dialect.name == "sqlite":
        rows = c.execute(text("EXPLAIN QUERY PLAN " + str(compiled))).all()
    else:
        c.execute(text("SET LOCAL enable_seqscan = off"))
        rows = c.execute(text("EXPLAIN " + str(compiled))).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_a_repository_and_a_namespace_page_read_their_index(db: Database) -> None:
    def plans(c: Db) -> dict[str, str]:
        return {
            "repository": _plan(c, logs.Scope(repository_id=1)),
            "namespace": _plan(c, logs.Scope(namespace_id=1)),
        }

    for key, plan in db.run_write(plans).items():
        wanted = "ix_log_entries_repository_time" if key == "repository" else "ix_log_entries_account_time"
        assert wanted in plan, (key, plan)
        assert "Seq Scan" not in plan and "SCAN log_entries" not in plan.replace("SCAN log_entries USING", "")
        # SQLite's index holds the rowid (the id) after created_ms: the order needs no sort
        assert "TEMP B-TREE" not in plan, (key, plan)

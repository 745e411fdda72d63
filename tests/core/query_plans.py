"""The plan a database makes for a query, as text, for the tests that check a list is read by
its index: SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from wharf.db.engine import Db


def plan(c: Db, query: Any) -> str:
    """The plan of `query` (its parameters inlined). On PostgreSQL sequential scans and sorts are
    priced out first, so that a test's tiny tables still show whether an index can serve the
    query in its order: the plan then sorts, or scans, only when no index can (call it inside a
    write transaction: the settings are SET LOCAL)."""
    compiled = query.compile(c, compile_kwargs={"literal_binds": True})
    if c.dialect.name == "sqlite":
        rows = c.execute(text("EXPLAIN QUERY PLAN " + str(compiled))).all()
    else:
        c.execute(text("SET LOCAL enable_seqscan = off"))
        c.execute(text("SET LOCAL enable_sort = off"))
        rows = c.execute(text("EXPLAIN " + str(compiled))).all()
    return "\n".join(str(r[-1]) for r in rows)


def sorts(found: str) -> bool:
    """Whether the plan sorts rows itself rather than reading them in an index's order. (With
    enable_sort off PostgreSQL still sorts when it must, its cost only raised.)"""
    return "TEMP B-TREE" in found or "Sort" in found.replace("Sort Key", "")

"""A page of usage logs together with the counts per kind and day over the same range (what the
web's Logs tab draws its chart from), in one transaction so that the two agree."""

from __future__ import annotations

from wharf.core import logs
from wharf.db.engine import Db
from wharf.runtime import Runtime

Counts = list[tuple[str, int, int]]
"""(kind, count, day start in ms), as `logs.aggregate` gives them."""


async def page_with_counts(
    rt: Runtime,
    scope: logs.Scope,
    start_ms: int,
    end_ms: int,
    *,
    before: tuple[int, int] | None,
    after: tuple[int, int] | None,
    limit: int,
) -> tuple[list[logs.Entry], Counts]:
    """`logs.page` (paging by `before`, or by `after` towards newer entries when `before` is None)
    and `logs.aggregate` of `scope` within [start_ms, end_ms)."""

    def read(db: Db) -> tuple[list[logs.Entry], Counts]:
        found = logs.page(
            db, scope, start_ms, end_ms, before=before, after=None if before else after, limit=limit
        )
        return found, logs.aggregate(db, scope, start_ms, end_ms)

    return await rt.db.read(read)

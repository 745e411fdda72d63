"""Stars: a user marks repositories to find them again (`GET /api/v1/user/starred`).

Starring changes nothing about the repository, so it writes no audit entry (Quay logs none either).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, select

from wharf.core._sql import insert_ignore
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import Star


def star(db: Db, account_id: int, repository_id: int) -> None:
    """Star a repository; starring it again changes nothing."""
    insert_ignore(
        db, Star, {"account_id": account_id, "repository_id": repository_id, "created_ms": now_ms()}
    )


_UNSTAR = delete(Star).where(Star.account_id == bindparam("account"), Star.repository_id == bindparam("repo"))


def unstar(db: Db, account_id: int, repository_id: int) -> bool:
    """Remove the star; False when there was none."""
    return bool(db.execute(_UNSTAR, {"account": account_id, "repo": repository_id}).rowcount)


_STARRED_AMONG = select(Star.repository_id).where(
    Star.account_id == bindparam("account"), Star.repository_id.in_(bindparam("repos", expanding=True))
)


def starred_among(db: Db, account_id: int | None, repository_ids: list[int]) -> set[int]:
    """Which of these repositories the account starred (none for anonymous callers)."""
    if account_id is None or not repository_ids:
        return set()
    return {r[0] for r in db.execute(_STARRED_AMONG, {"account": account_id, "repos": repository_ids})}


_COUNTS = (
    select(Star.repository_id, func.count())
    .where(Star.repository_id.in_(bindparam("repos", expanding=True)))
    .group_by(Star.repository_id)
)


def counts(db: Db, repository_ids: list[int]) -> dict[int, int]:
    """How many users starred each repository (repositories nobody starred are absent)."""
    if not repository_ids:
        return {}
    return {r[0]: r[1] for r in db.execute(_COUNTS, {"repos": repository_ids})}

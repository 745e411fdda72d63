"""Whether an immutability policy freezes a tag as it is pushed or moved: read by core/tags.py on
every tag change, so it imports nothing above the tables and the pattern engine (core/tags.py is
below the modules that manage the policies)."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select

from wharf.core import audit, tag_patterns
from wharf.db.engine import Db
from wharf.db.models import Account, ImmutabilityPolicy, Repository

# Built once: it runs on every push. One indexed read per tag change, the policies of the
# repository and of its namespace; a push to a registry without policies reads no row.
_RULES = (
    select(ImmutabilityPolicy.tag_pattern, ImmutabilityPolicy.tag_pattern_matches)
    .join(Repository, Repository.namespace_id == ImmutabilityPolicy.namespace_id)
    .where(
        Repository.id == bindparam("repo"),
        or_(ImmutabilityPolicy.repository_id.is_(None), ImmutabilityPolicy.repository_id == Repository.id),
    )
)


def frozen(db: Db, repository_id: int, name: str) -> bool:
    rows = db.execute(_RULES, {"repo": repository_id}).all()
    return any(tag_patterns.matcher(r.tag_pattern, bool(r.tag_pattern_matches))(name) for r in rows)


def record(db: Db, repository_id: int, name: str) -> None:
    """The usage-log entry of a tag a policy froze as it landed (read only then: a rare event)."""
    row = db.execute(
        select(Repository.namespace_id, Account.name, Repository.name)
        .join(Account, Account.id == Repository.namespace_id)
        .where(Repository.id == repository_id)
    ).one()
    audit.record(
        db,
        "tag_made_immutable_by_policy",
        None,
        namespace_id=row[0],
        repository_id=repository_id,
        namespace=row[1],
        repo=row[2],
        tag=name,
    )

"""Whether an immutability policy freezes a tag as it is pushed or moved: read by core/tags.py on
every tag change, so it imports nothing above the tables and the pattern engine (core/tags.py is
below the modules that manage the policies)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, bindparam, exists, or_, select

from wharf.core import audit, tag_patterns
from wharf.db.engine import Db
from wharf.db.models import Account, ImmutabilityPolicy, Repository

# Whether the repository (the `Repository` row of the enclosing statement) or its namespace has any
# policy. core/tags.py reads it in the statement that finds the tag's open row, so that a tag change
# in a namespace without policies (nearly every push) costs no statement of its own; the rules
# themselves (`frozen`) are read only when there are some.
ANY_POLICY: ColumnElement[bool] = (
    exists()
    .where(
        ImmutabilityPolicy.namespace_id == Repository.namespace_id,
        or_(ImmutabilityPolicy.repository_id.is_(None), ImmutabilityPolicy.repository_id == Repository.id),
    )
    .correlate(Repository)
    .label("any_policy")
)

# Built once: it runs on every tag change where `ANY_POLICY` found some. The policies of the
# repository and of its namespace.
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

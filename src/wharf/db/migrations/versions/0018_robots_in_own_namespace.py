"""robots hold roles only in their own namespace

Before this revision a robot of one namespace could be granted a role on a repository of another
(directly or through a default permission), which Quay refuses. This removes what was granted that
way, says each removal in the migration's log and files it in the audit log of the repository's
(or organization's) namespace.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:30:00
"""

import json
import logging
import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("wharf.migrate")

_FOREIGN_GRANTS = sa.text(
    "SELECT p.id, p.role, r.id AS repository_id, r.namespace_id, r.name AS repo, r.full_name,"
    " ns.name AS namespace, a.name AS robot"
    " FROM repository_permissions p"
    " JOIN robots rb ON rb.account_id = p.account_id"
    " JOIN accounts a ON a.id = p.account_id"
    " JOIN repositories r ON r.id = p.repository_id"
    " JOIN accounts ns ON ns.id = r.namespace_id"
    " WHERE rb.owner_id <> r.namespace_id"
    " ORDER BY p.id"
)
_FOREIGN_PROTOTYPES = sa.text(
    "SELECT p.id, p.role, p.org_id, o.name AS org, a.name AS robot"
    " FROM prototypes p"
    " JOIN robots rb ON rb.account_id = p.delegate_account_id"
    " JOIN accounts a ON a.id = p.delegate_account_id"
    " JOIN accounts o ON o.id = p.org_id"
    " WHERE rb.owner_id <> p.org_id"
    " ORDER BY p.id"
)
_AUDIT = sa.text(
    "INSERT INTO log_entries (kind, account_id, performer_id, repository_id, ip, created_ms, metadata_json)"
    " VALUES (:kind, :account_id, NULL, :repository_id, NULL, :created_ms, :metadata_json)"
)
_WHY = "robot of another namespace (removed by migration 0018)"


def _audit(kind: str, namespace_id: int, repository_id: int | None, **metadata: str) -> None:
    op.get_bind().execute(
        _AUDIT,
        {
            "kind": kind,
            "account_id": namespace_id,
            "repository_id": repository_id,
            "created_ms": int(time.time() * 1000),
            "metadata_json": json.dumps({**metadata, "reason": _WHY}, separators=(",", ":")),
        },
    )


def upgrade() -> None:
    bind = op.get_bind()
    for g in bind.execute(_FOREIGN_GRANTS).all():
        log.warning("removing %s's %s role on %s: %s", g.robot, g.role, g.full_name, _WHY)
        bind.execute(sa.text("DELETE FROM repository_permissions WHERE id = :id"), {"id": g.id})
        _audit(
            "delete_repo_permission",
            g.namespace_id,
            g.repository_id,
            namespace=g.namespace,
            repo=g.repo,
            username=g.robot,
            role=g.role,
        )
    for p in bind.execute(_FOREIGN_PROTOTYPES).all():
        log.warning(
            "removing the default permission %s giving %s %s in %s: %s", p.id, p.robot, p.role, p.org, _WHY
        )
        bind.execute(sa.text("DELETE FROM prototypes WHERE id = :id"), {"id": p.id})
        _audit("delete_prototype_permission", p.org_id, None, delegate=p.robot, role=p.role)


def downgrade() -> None:
    # What was removed was never allowed; nothing to put back.
    pass

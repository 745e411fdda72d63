"""Creating a repository on someone's behalf, with the role its creator gets."""

from __future__ import annotations

from wharf.core import accounts, audit, grants, orgs, prototypes, repositories
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db


def create_repository(
    db: Db,
    namespace: str,
    name: str,
    *,
    visibility: str,
    creator_id: int | None,
    actor: audit.Actor | None,
    known: repositories.NamespaceKey | None = None,
) -> RepositoryRecord:
    """A member of a `creator` team who creates a repository in an organization becomes its admin,
    as on Quay (organization admins and the namespace's own user need no grant), and the
    organization's default permissions are applied. In a user's namespace that is all there is:
    three statements, two when the namespace is `known` (docs/performance.md, repository creation
    by first push)."""
    repo, namespace_kind = repositories.create_in(
        db, namespace, name, visibility=visibility, actor=actor, known=known
    )
    if namespace_kind != "org":
        return repo
    creator = accounts.get_by_id(db, creator_id) if creator_id is not None else None
    if (
        creator is not None
        and not creator.is_superuser
        and "admin" not in orgs.team_roles(db, repo.namespace_id, creator.id)
    ):
        grants.set_user_role(db, repo, creator, "admin", actor)
    prototypes.apply(db, repo, creator_id, actor)
    return repo

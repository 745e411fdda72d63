"""Creating a repository on someone's behalf, with the role its creator gets."""

from __future__ import annotations

from wharf.core import accounts, audit, grants, orgs, prototypes, repositories
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db


def create_repository(
    db: Db, namespace: str, name: str, *, visibility: str, creator_id: int | None, actor: audit.Actor | None
) -> RepositoryRecord:
    """A member of a `creator` team who creates a repository in an organization becomes its admin,
    as on Quay (organization admins and the namespace's own user need no grant), and the
    organization's default permissions are applied."""
    repo = repositories.create(db, namespace, name, visibility=visibility, actor=actor)
    creator = accounts.get_by_id(db, creator_id) if creator_id is not None else None
    ns = accounts.get_by_id(db, repo.namespace_id)
    needs_grant = (
        creator is not None
        and ns is not None
        and ns.kind == "org"
        and not creator.is_superuser
        and "admin" not in orgs.team_roles(db, ns.id, creator.id)
    )
    if needs_grant:
        assert creator is not None
        grants.set_user_role(db, repo, creator, "admin", actor)
    if ns is not None and ns.kind == "org":
        prototypes.apply(db, repo, creator_id, actor)
    return repo

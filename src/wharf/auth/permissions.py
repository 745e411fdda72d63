"""THE permission resolver: every access decision on every surface is made here.

The registry surface asks it when it issues a token (which actions on which repository), and
when it lists the catalog (which repositories a caller may see). Later surfaces ask the same
functions, so one table of rules decides everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_

from wharf.auth import scopes
from wharf.auth.identity import Identity
from wharf.config import Settings
from wharf.core import accounts, repositories
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Repository

PULL, PUSH, ALL = "pull", "push", "*"


@dataclass(frozen=True, slots=True)
class RepositoryAccess:
    actions: frozenset[str]
    repository: RepositoryRecord | None
    """None when the repository does not exist yet."""


def _role_actions(
    identity: Identity, namespace: str, repo: RepositoryRecord | None, settings: Settings
) -> set[str]:
    if not identity.is_anonymous and (identity.is_superuser or identity.name == namespace):
        return {PULL, PUSH, ALL}
    if (
        repo is not None
        and repo.is_public
        and (settings.FEATURE_ANONYMOUS_ACCESS or not identity.is_anonymous)
    ):
        return {PULL}
    return set()


def repository_access(
    db: Db, settings: Settings, identity: Identity, namespace: str, name: str
) -> RepositoryAccess:
    repo = repositories.get(db, namespace, name)
    if repo is None:
        ns = accounts.get_by_name(db, namespace)
        exists = ns is not None and ns.kind != "robot" and ns.enabled
        # Pushing to a missing repository creates it, so push needs the right to create here.
        actions = _role_actions(identity, namespace, None, settings) if exists else set()
        return RepositoryAccess(frozenset(actions), None)
    actions = _role_actions(identity, namespace, repo, settings)
    if repo.state != repositories.NORMAL:
        actions -= {PUSH, ALL}
    return RepositoryAccess(frozenset(actions), repo)


def visible_repositories(identity: Identity, settings: Settings) -> ColumnElement[bool] | None:
    """A clause selecting the repositories `identity` may see; None means all of them."""
    if identity.is_superuser:
        return None
    clauses: list[ColumnElement[bool]] = []
    if settings.FEATURE_PUBLIC_CATALOG and (settings.FEATURE_ANONYMOUS_ACCESS or not identity.is_anonymous):
        clauses.append(Repository.visibility == "public")
    if identity.account_id is not None:
        clauses.append(Repository.namespace_id == identity.account_id)
    return or_(*clauses) if clauses else false()


def is_superuser(identity: Identity) -> bool:
    """A superuser acting with superuser powers (a token needs the super:user scope for that)."""
    return identity.is_superuser and identity.has_scope(scopes.SUPER_USER)


def can_read_user(identity: Identity) -> bool:
    """The caller may read their own account details."""
    return not identity.is_anonymous and identity.has_scope(scopes.USER_READ)

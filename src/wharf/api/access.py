"""Who may touch what on /api/v1: the repository, organization or team a path names, resolved with
the role the caller needs, and the superuser checks. Each is a function a handler may call where
another check has to come first, and a FastAPI dependency (`AdminRepository`, `AdminOrg`,
`Superuser`, ...) for a handler to declare. The decisions are `auth/permissions.py`'s (the one
resolver); this module turns them into Quay's answers:

- a repository the caller may not read looks like one that does not exist: 404, or 401 for an
  anonymous caller (who may see it once signed in); one it reads without the role needed is 403;
- a write to a repository whose state (READ_ONLY, MIRROR) accepts none is 503; core checks the
  state again inside the writing transaction (`repositories.require_normal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from wharf.api.deps import Caller, Rt, User
from wharf.api.errors import forbidden, not_found, unauthorized
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, orgs, repositories, scopes, teams
from wharf.core.accounts import AccountRecord
from wharf.core.repositories import RepositoryRecord
from wharf.core.teams import TeamRecord
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.runtime import Runtime

# --- repositories ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositoryAccess:
    """A repository as the caller reaches it: the record, its namespace, and the caller's role."""

    repo: RepositoryRecord
    namespace: AccountRecord
    role: str
    frozen: bool = False
    """A restricted user's own namespace: its content may not change (`permissions.content_frozen`)."""


FROZEN = "Operation not allowed on restricted user owned namespace"
"""Quay's answer (403) to a restricted user changing the content of their own namespace."""


async def resolve_repository(rt: Runtime, who: Identity, repository: str, need: str) -> RepositoryAccess:
    """The repository named `repository`, when the caller's role on it is at least `need`."""
    try:
        name = RepositoryName.parse(repository, rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError:
        raise not_found(f"no repository {repository!r}") from None
    view = await rt.db.read(permissions.view_repository, rt.settings, who, name.namespace, name.name)
    if view is None:
        if who.is_anonymous:
            raise unauthorized()
        raise not_found(f"no repository {repository!r}")
    if permissions.RANK[view.role] < permissions.RANK[need]:
        if who.is_anonymous:
            raise unauthorized()
        raise forbidden(f"you need the {need} role on {repository}; you have {view.role}")
    return RepositoryAccess(view.repo, view.namespace, view.role, view.frozen)


async def readable_repository(rt: Runtime, who: Identity, repository: str) -> RepositoryAccess:
    return await resolve_repository(rt, who, repository, permissions.READ)


async def admined_repository(rt: Runtime, who: Identity, repository: str) -> RepositoryAccess:
    return await resolve_repository(rt, who, repository, permissions.ADMIN)


async def writable_repository(rt: Runtime, who: Identity, repository: str) -> RepositoryRecord:
    """The repository, when the caller holds write (or admin) on it, may change its content, and
    its state accepts writes."""
    access = await resolve_repository(rt, who, repository, permissions.WRITE)
    if access.frozen:
        raise forbidden(FROZEN)
    repositories.check_writable(access.repo)
    return access.repo


async def content_admined_repository(rt: Runtime, who: Identity, repository: str) -> RepositoryAccess:
    """The repository with the admin role, for what changes its content (build triggers,
    cancelling builds): refused in a restricted user's own namespace, as Quay does."""
    access = await resolve_repository(rt, who, repository, permissions.ADMIN)
    if access.frozen:
        raise forbidden(FROZEN)
    return access


async def _readable(rt: Rt, who: Caller, repository: str) -> RepositoryAccess:
    return await readable_repository(rt, who, repository)


async def _admined(rt: Rt, who: User, repository: str) -> RepositoryAccess:
    return await admined_repository(rt, who, repository)


async def _writable(rt: Rt, who: User, repository: str) -> RepositoryRecord:
    return await writable_repository(rt, who, repository)


async def _content_admined(rt: Rt, who: User, repository: str) -> RepositoryAccess:
    return await content_admined_repository(rt, who, repository)


ReadableRepository = Annotated[RepositoryAccess, Depends(_readable)]
"""`{repository}` with at least the read role (anyone may call)."""
AdminRepository = Annotated[RepositoryAccess, Depends(_admined)]
"""`{repository}` with the admin role."""
WritableRepository = Annotated[RepositoryRecord, Depends(_writable)]
"""`{repository}` with the write role, in a state that accepts writes."""
ContentAdminRepository = Annotated[RepositoryAccess, Depends(_content_admined)]
"""`{repository}` with the admin role, where the caller may change its content (not frozen)."""


# --- organizations and teams -----------------------------------------------------------------------


async def organization(rt: Runtime, orgname: str) -> AccountRecord:
    org = await rt.db.read(orgs.get, orgname)
    if org is None:
        raise not_found(f"no organization named {orgname!r}")
    return org


async def admined_org(rt: Runtime, who: Identity, orgname: str) -> AccountRecord:
    """The organization, when the caller administers it (org:admin scope and an admin team)."""
    if who.is_anonymous:
        raise unauthorized()
    org = await organization(rt, orgname)
    if not await rt.db.read(permissions.can_admin_org, who, org):
        raise forbidden(f"you do not administer organization {orgname}")
    return org


async def org_team(rt: Runtime, org: AccountRecord, teamname: str) -> TeamRecord:
    found = await rt.db.read(teams.get, org.id, teamname)
    if found is None:
        raise not_found(f"no team {teamname!r} in {org.name}")
    return found


async def _admin_org(rt: Rt, who: User, orgname: str) -> AccountRecord:
    return await admined_org(rt, who, orgname)


AdminOrg = Annotated[AccountRecord, Depends(_admin_org)]
"""`{orgname}`, administered by the caller."""


# --- the caller's own account --------------------------------------------------------------------


def require_user_admin(who: Identity) -> None:
    """What a user does to its own account needs the user:admin scope, as on Quay."""
    if not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")


async def own_account(rt: Runtime, who: Identity) -> AccountRecord | None:
    """The caller's account (user:admin scope required); None when it no longer exists."""
    require_user_admin(who)
    if who.account_id is None:
        return None
    return await rt.db.read(accounts.get_by_id, who.account_id)


async def own_user(rt: Runtime, who: Identity, not_a_user: str) -> AccountRecord:
    """`own_account` for what only users have (robots, app tokens): 403 `not_a_user` otherwise."""
    account = await own_account(rt, who)
    if account is None or account.kind != "user":
        raise forbidden(not_a_user)
    return account


# --- superusers ----------------------------------------------------------------------------------


def require_superuser(who: Identity) -> None:
    """Changes through the superuser panel: superusers only (never a read-only superuser)."""
    if not permissions.is_superuser(who):
        raise forbidden("superuser rights (and the super:user scope) are required")


def require_superuser_reads(who: Identity) -> None:
    """Reads of the superuser panel: superusers and global read-only superusers."""
    if not permissions.may_read_superuser_panel(who):
        raise forbidden("superuser rights (and the super:user scope) are required")


async def _superuser(who: User) -> Identity:
    require_superuser(who)
    return who


async def _superuser_reader(who: User) -> Identity:
    require_superuser_reads(who)
    return who


Superuser = Annotated[Identity, Depends(_superuser)]
"""A signed-in superuser (with the super:user scope), for changes."""
SuperuserReader = Annotated[Identity, Depends(_superuser_reader)]
"""A signed-in superuser or global read-only superuser, for reads."""

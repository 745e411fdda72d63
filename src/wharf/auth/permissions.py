"""THE permission resolver: every access decision on every surface is made here.

The registry surface asks it when it issues a token (which actions on which repository), and
when it lists the catalog (which repositories a caller may see). Later surfaces ask the same
functions, so one table of rules decides everything.

Superusers come in two kinds, as on Quay. A superuser (SUPER_USERS) has the superuser panel, and
with FEATURE_SUPERUSERS_FULL_ACCESS every right on every namespace and repository. A global
read-only superuser (GLOBAL_READONLY_SUPER_USERS, which wins over SUPER_USERS) may read what a
superuser may, in requests that only read (GET, HEAD), pulls every repository, and otherwise is a
plain user. A token uses either power only with the super:user scope. Each surface passes the
identity through `with_powers` once, when it knows the caller and the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, false, or_, select

from wharf.auth.identity import Identity
from wharf.config import Settings
from wharf.core import (
    access,
    accounts,
    federated_logins,
    grants,
    mirrors,
    orgs,
    proxy_cache,
    repositories,
    scopes,
)
from wharf.core.accounts import AccountRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Repository, RepositoryPermission, Team, TeamMember
from wharf.oci.names import RepositoryName

PULL, PUSH, ALL = "pull", "push", "*"
READ, WRITE, ADMIN = "read", "write", "admin"
_ACTIONS = {READ: {PULL}, WRITE: {PULL, PUSH}, ADMIN: {PULL, PUSH, ALL}}
# The strongest repository role each OAuth scope lets a token use.
_SCOPE_ROLES = {scopes.REPO_READ: READ, scopes.REPO_WRITE: WRITE, scopes.REPO_ADMIN: ADMIN}


@dataclass(frozen=True, slots=True)
class RepositoryAccess:
    actions: frozenset[str]
    repository: RepositoryRecord | None
    """None when the repository does not exist yet."""
    public_only: bool = False
    """The caller may pull only because the repository is public (its token says so, and stops
    when the repository becomes private)."""


def with_powers(settings: Settings, identity: Identity, *, reading: bool | None = None) -> Identity:
    """The identity with its superuser powers worked out from the settings. `reading`: the request
    only reads (None keeps what the identity says). Safe to apply twice."""
    readonly = (
        identity.kind not in ("anonymous", "robot")
        and identity.name is not None
        and identity.name in settings.GLOBAL_READONLY_SUPER_USERS
    )
    superuser = identity.is_superuser and not readonly
    full_access = superuser and settings.FEATURE_SUPERUSERS_FULL_ACCESS
    reading = identity.reading if reading is None else reading
    if (superuser, readonly, full_access, reading) == (
        identity.is_superuser,
        identity.readonly_superuser,
        identity.full_access,
        identity.reading,
    ):
        return identity  # already worked out (a token request asks once per scope)
    return replace(
        identity,
        is_superuser=superuser,
        readonly_superuser=readonly,
        full_access=full_access,
        reading=reading,
    )


def has_full_access(identity: Identity) -> bool:
    """A superuser with every right on every namespace and repository (FEATURE_SUPERUSERS_FULL_ACCESS)."""
    return identity.full_access and identity.is_superuser and identity.has_scope(scopes.SUPER_USER)


def is_readonly_superuser(identity: Identity) -> bool:
    """A global read-only superuser using that power (a token needs the super:user scope)."""
    return identity.readonly_superuser and identity.has_scope(scopes.SUPER_USER)


def reads_everything(identity: Identity) -> bool:
    """May read anything a superuser may in this request: a read-only superuser in a request that
    only reads, or a superuser with full access."""
    return has_full_access(identity) or (is_readonly_superuser(identity) and identity.reading)


def may_read_superuser_panel(identity: Identity) -> bool:
    """May read what the superuser panel shows (users, organizations, logs, registry status)."""
    return is_superuser(identity) or (is_readonly_superuser(identity) and identity.reading)


def _capped(identity: Identity, role: str | None) -> str | None:
    """A token's scopes cap the role its user has."""
    if role is None or identity.scopes is None:
        return role
    allowed = grants.strongest({r for s, r in _SCOPE_ROLES.items() if s in identity.scopes})
    if allowed is None:
        return None
    return role if grants.ROLES.index(role) <= grants.ROLES.index(allowed) else allowed


def repository_role(
    db: Db, settings: Settings, identity: Identity, namespace: AccountRecord, repo: RepositoryRecord
) -> str | None:
    """The caller's role on an existing repository: read, write, admin or None."""
    identity = with_powers(settings, identity)
    return _with_public(settings, identity, repo, _granted_role(db, settings, identity, namespace, repo))


def _with_public(
    settings: Settings, identity: Identity, repo: RepositoryRecord, role: str | None
) -> str | None:
    if repo.is_public and may_read_public(identity, settings):
        return grants.strongest({READ} | ({role} if role else set()))
    return role


def _granted_role(
    db: Db, settings: Settings, identity: Identity, namespace: AccountRecord, repo: RepositoryRecord
) -> str | None:
    """The caller's role on the repository from ownership, teams and grants (public or not)."""
    roles: set[str] = set()
    if identity.account_id is not None and not identity.is_anonymous:
        if has_full_access(identity):
            roles.add(ADMIN)
        elif identity.account_id == namespace.id:
            # A restricted user still administers what their namespace holds (delete, visibility,
            # permissions, notifications), as in Quay; only its content is frozen (`content_frozen`).
            roles.add(ADMIN)
        else:
            org = namespace.id if namespace.kind == "org" else None
            team_roles, repository_roles = access.caller_roles(db, org, repo.id, identity.account_id)
            if ADMIN in team_roles:
                roles.add(ADMIN)
            roles |= repository_roles
            if is_readonly_superuser(identity):
                # Reads see what an admin sees; anything else is refused as for a reader.
                roles.add(ADMIN if identity.reading else READ)
    return _capped(identity, grants.strongest(roles))


def content_frozen(db: Db, settings: Settings, identity: Identity, namespace: AccountRecord) -> bool:
    """The caller may not change what repositories of `namespace` hold: a restricted user in their
    own namespace (what it holds came before the restriction). Quay refuses them pushes, manifest
    deletes, tag and label changes, builds and build triggers there, but lets them administer the
    repositories (delete them, change visibility, permissions, notifications, description)."""
    return identity.account_id == namespace.id and is_restricted(db, settings, identity)


def may_read_public(identity: Identity, settings: Settings) -> bool:
    """Public repositories are readable by this caller (anonymous callers need FEATURE_ANONYMOUS_ACCESS)."""
    return settings.FEATURE_ANONYMOUS_ACCESS or not identity.is_anonymous


def can_create_in(db: Db, settings: Settings, identity: Identity, namespace: AccountRecord | None) -> bool:
    """Whether the caller may create repositories in this namespace (pushing creates them)."""
    if identity.is_anonymous or identity.account_id is None or namespace is None:
        return False
    if namespace.kind == "robot" or not namespace.enabled:
        return False
    if identity.scopes is not None and scopes.REPO_CREATE not in identity.scopes:
        return False
    if has_full_access(identity):
        return True
    if identity.account_id == namespace.id:
        # A restricted user has no repositories of their own (Quay's FEATURE_RESTRICTED_USERS).
        return not is_restricted(db, settings, identity)
    return namespace.kind == "org" and bool(
        {"admin", "creator"} & access.caller_roles(db, namespace.id, None, identity.account_id)[0]
    )


def is_restricted(db: Db, settings: Settings, identity: Identity) -> bool:
    """A restricted user (FEATURE_RESTRICTED_USERS), whom Quay refuses organizations, robots and
    any write in their own namespace. A superuser never is (Quay exempts SUPER_USERS in each of
    those checks, with or without FEATURE_SUPERUSERS_FULL_ACCESS)."""
    identity = with_powers(settings, identity)
    # A user signed in or using one of their tokens (OAuth, app-specific); a robot is not its
    # owner (Quay compares the signed-in name with the namespace's).
    if identity.kind in ("anonymous", "robot") or identity.account_id is None or identity.name is None:
        return False
    if identity.is_superuser and identity.has_scope(scopes.SUPER_USER):
        return False
    return account_is_restricted(db, settings, identity.account_id, identity.name)


def account_is_restricted(db: Db, settings: Settings, account_id: int, name: str) -> bool:
    """Quay's rule for an account (superusers aside): with FEATURE_RESTRICTED_USERS, a name in
    RESTRICTED_USERS_WHITELIST never is; with a whitelist, every other name is, whatever the
    directory says (Quay: "either source can restrict"); without one, every database user is
    and a directory user is when LDAP_RESTRICTED_USER_FILTER matched them (or there is no
    filter) at their last sign-in. Decided at each request from the settings, so changing the
    whitelist or the feature takes effect at once for database users."""
    if not settings.FEATURE_RESTRICTED_USERS or name in settings.RESTRICTED_USERS_WHITELIST:
        return False
    if settings.RESTRICTED_USERS_WHITELIST or settings.AUTHENTICATION_TYPE == "Database":
        return True
    return federated_logins.is_restricted(db, account_id)


def administers_namespace(db: Db, identity: Identity, namespace: AccountRecord | None) -> bool:
    """Whether the caller holds admin on every repository of `namespace`, existing or not, within
    its token's scopes: the namespace's own user, an admin of the organization, a superuser (Quay's
    AdministerRepositoryPermission, which does not need the repository to exist)."""
    if identity.is_anonymous or identity.account_id is None or namespace is None:
        return False
    if _capped(identity, ADMIN) != ADMIN:
        return False
    if is_superuser(identity) or identity.account_id == namespace.id:
        return True
    return namespace.kind == "org" and ADMIN in orgs.team_roles(db, namespace.id, identity.account_id)


def can_admin_org(db: Db, identity: Identity, org: AccountRecord) -> bool:
    if identity.is_anonymous or identity.account_id is None or org.kind != "org":
        return False
    if is_readonly_superuser(identity) and identity.reading:
        return True
    if not identity.has_scope(scopes.ORG_ADMIN):
        return False
    return has_full_access(identity) or ADMIN in orgs.team_roles(db, org.id, identity.account_id)


def may_see_org_secrets(db: Db, identity: Identity, org: AccountRecord) -> bool:
    """Robot tokens and application secrets of an organization: its admins and superusers with full
    access, never a read-only superuser by that power."""
    return can_admin_org(db, replace(identity, reading=False), org)


def is_org_member(db: Db, identity: Identity, org: AccountRecord) -> bool:
    if identity.account_id is None:
        return False
    return reads_everything(identity) or bool(orgs.team_roles(db, org.id, identity.account_id))


def access_to_each(
    db: Db, settings: Settings, identity: Identity, repos: Iterable[RepositoryName]
) -> dict[RepositoryName, RepositoryAccess]:
    """What `identity` may do on each of `repos` (a token request's scopes), in one read transaction."""
    decisions: dict[RepositoryName, RepositoryAccess] = {}
    for repo in repos:
        if repo not in decisions:
            decisions[repo] = repository_access(db, settings, identity, repo.namespace, repo.name)
    return decisions


def repository_access(
    db: Db, settings: Settings, identity: Identity, namespace: str, name: str
) -> RepositoryAccess:
    identity = with_powers(settings, identity)
    ns, repo = access.namespace_and_repository(db, namespace, name)
    if repo is None:
        # Pushing to a missing repository creates it, so push needs the right to create here.
        actions = {PULL, PUSH, ALL} if can_create_in(db, settings, identity, ns) else set()
        if PULL not in actions and _pulls_through(db, settings, identity, ns):
            actions = {PULL}  # a pull through a proxy cache creates the repository
        return RepositoryAccess(frozenset(actions), None)
    assert ns is not None
    granted = _granted_role(db, settings, identity, ns, repo)
    role = _with_public(settings, identity, repo, granted)
    actions = set(_ACTIONS[role]) if role else set()
    if content_frozen(db, settings, identity, ns):
        actions &= {PULL}
    if repo.state != repositories.NORMAL:
        # A mirror's robot keeps push (Quay's rule: it alone writes to a MIRROR repository).
        mirror_robot = repo.state in repositories.MIRRORED and mirrors.is_robot_of(
            db, repo.id, identity.account_id
        )
        actions -= {ALL} if mirror_robot else {PUSH, ALL}
    if PULL not in actions and _pulls_through(db, settings, identity, ns):
        actions.add(PULL)
    return RepositoryAccess(frozenset(actions), repo, public_only=granted is None and role is not None)


def _pulls_through(db: Db, settings: Settings, identity: Identity, ns: AccountRecord | None) -> bool:
    """A member of a proxy-cache organization may pull from any of its repositories, existing or
    not yet (Quay's rule): the cache serves the organization, not one repository's grantees. Asked
    only of callers who may not pull otherwise."""
    if not settings.FEATURE_PROXY_CACHE or ns is None or ns.kind != "org" or identity.account_id is None:
        return False
    if identity.is_anonymous or _capped(identity, READ) is None:
        return False
    if proxy_cache.get(db, ns.id) is None:
        return False
    return bool(access.caller_roles(db, ns.id, None, identity.account_id)[0])


@dataclass(frozen=True, slots=True)
class RepositoryView:
    """An existing repository as one caller sees it."""

    repo: RepositoryRecord
    namespace: AccountRecord
    role: str
    frozen: bool = False
    """The caller may not change the repository's content whatever its role (`content_frozen`)."""


def view_repository(
    db: Db, settings: Settings, identity: Identity, namespace: str, name: str
) -> RepositoryView | None:
    """The repository with the caller's role on it; None when it does not exist or the caller may
    not read it (the two must look alike to the caller)."""
    ns = accounts.get_by_name(db, namespace)
    repo = repositories.get(db, namespace, name) if ns is not None else None
    if repo is None or ns is None:
        return None
    role = repository_role(db, settings, identity, ns, repo)
    if role is None:
        return None
    return RepositoryView(repo, ns, role, content_frozen(db, settings, identity, ns))


RANK = {READ: 0, WRITE: 1, ADMIN: 2}


def visible_repositories(identity: Identity, settings: Settings) -> ColumnElement[bool] | None:
    """A clause selecting the repositories `identity` may see; None means all of them."""
    identity = with_powers(settings, identity)
    if has_full_access(identity) or is_readonly_superuser(identity):
        return None
    clauses: list[ColumnElement[bool]] = []
    if settings.FEATURE_PUBLIC_CATALOG and may_read_public(identity, settings):
        clauses.append(Repository.visibility == "public")
    # A token without a repo:* scope (say user:read only) reads no private repository, so it
    # may not list their names either.
    may_read_private = _capped(identity, READ) is not None
    if identity.account_id is not None and not identity.is_anonymous and may_read_private:
        me = identity.account_id
        my_teams = select(TeamMember.team_id).where(TeamMember.account_id == me)
        admin_of = select(Team.org_id).where(Team.role == ADMIN, Team.id.in_(my_teams))
        granted = select(RepositoryPermission.repository_id).where(
            or_(RepositoryPermission.account_id == me, RepositoryPermission.team_id.in_(my_teams))
        )
        clauses += [
            Repository.namespace_id == me,
            Repository.namespace_id.in_(admin_of),
            Repository.id.in_(granted),
        ]
    return or_(*clauses) if clauses else false()


def is_superuser(identity: Identity) -> bool:
    """A superuser acting with superuser powers (a token needs the super:user scope for that): the
    superuser panel, and changing it. Never a read-only superuser."""
    return identity.is_superuser and not identity.readonly_superuser and identity.has_scope(scopes.SUPER_USER)


def is_configured_superuser(settings: Settings, account: AccountRecord) -> bool:
    """A (full) superuser; a name also in GLOBAL_READONLY_SUPER_USERS is read-only, as on Quay."""
    if account.name in settings.GLOBAL_READONLY_SUPER_USERS:
        return False
    return account.is_superuser or account.name in settings.SUPER_USERS


def is_configured_readonly_superuser(settings: Settings, account: AccountRecord) -> bool:
    return account.kind == "user" and account.name in settings.GLOBAL_READONLY_SUPER_USERS


def why_superuser_may_not(
    settings: Settings, identity: Identity, target: AccountRecord, action: str
) -> str | None:
    """Why a superuser may not `action` (disable | delete | take_ownership) this account, or None
    when they may. A superuser never locks themselves out or removes another superuser."""
    if action == "disable" and target.id == identity.account_id:
        return "you cannot disable your own account"
    if action == "delete" and is_configured_superuser(settings, target):
        return "superusers cannot be deleted; remove them from SUPER_USERS first"
    if action == "take_ownership" and is_configured_superuser(settings, target):
        return "cannot take ownership of a superuser's namespace"
    return None


def can_read_user(identity: Identity) -> bool:
    """The caller may read their own account details."""
    return not identity.is_anonymous and identity.has_scope(scopes.USER_READ)

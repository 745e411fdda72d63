"""Users, organizations, teams and robots as the API shows and changes them: each function is one
transaction over several core functions, so a surface composes none itself."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.auth import client_keys, permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, audit, federated_logins, grants, orgs, proxy_cache, robots, teams, tokens
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput, NotAllowed
from wharf.core.robots import RobotRecord
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime
from wharf.services.proxy_cache import NewConfig


async def initialize_first_user(
    rt: Runtime, username: str, password: str, email: str | None, token_scopes: frozenset[str] | None
) -> tuple[AccountRecord, str | None]:
    """The first user of an empty registry, a superuser, with an OAuth token of `token_scopes`
    when given. Raises InvalidInput when the registry already has users."""

    def apply(db: Db) -> tuple[AccountRecord, str | None]:
        if accounts.count(db):
            raise InvalidInput("the registry already has users; initialization works only on an empty one")
        account = accounts.create_user(db, username, password, email, superuser=True)
        token = tokens.mint(db, account, token_scopes) if token_scopes is not None else None
        return account, token

    return await rt.db.write(apply)


async def delete_user(rt: Runtime, account: AccountRecord, actor: audit.Actor | None) -> None:
    """Delete a user with their namespace and its repositories; their repositories' build
    triggers first remove their deploy keys and webhooks from GitHub, GitLab or Bitbucket, as
    deleting a repository does (services/repositories.delete)."""
    from wharf.services import build_triggers  # the builds' modules load with their first use

    await build_triggers.uninstall_all_in_namespace(rt, account.id)
    await rt.db.write(accounts.delete_user, account, actor)


async def delete_org(rt: Runtime, org: AccountRecord, actor: audit.Actor | None) -> None:
    """Delete an organization with its repositories, teams and robots; its repositories' build
    triggers first, as for delete_user."""
    from wharf.services import build_triggers

    await build_triggers.uninstall_all_in_namespace(rt, org.id)
    await rt.db.write(orgs.delete_org, org, actor)


async def own_profile(
    rt: Runtime, account: AccountRecord
) -> tuple[list[tuple[AccountRecord, set[str]]], bool]:
    """The organizations `account` belongs to with its roles there, and whether it has a password."""

    def read(db: Db) -> tuple[list[tuple[AccountRecord, set[str]]], bool]:
        return orgs.of_member(db, account.id), accounts.has_password_set(db, account.id)

    return await rt.db.read(read)


async def create_org(
    rt: Runtime,
    creator: Identity,
    name: str,
    email: str | None,
    by: audit.Actor,
    *,
    proxy: NewConfig | None = None,
) -> None:
    """A new organization with `creator` in its owners team (raises AlreadyExists, InvalidName),
    made a proxy cache of `proxy` in the same transaction when given (the web's creation form:
    a wrong upstream leaves no organization behind)."""

    creator_id = creator.account_id
    assert creator_id is not None

    def apply(db: Db) -> None:
        owner = accounts.get_by_id(db, creator_id)
        assert owner is not None
        if permissions.is_restricted(db, rt.settings, creator):
            raise NotAllowed(
                "restricted users cannot create organizations (FEATURE_RESTRICTED_USERS): "
                "ask an administrator to add you to an organization's team"
            )
        org = orgs.create(db, name, email, owner, by)
        if proxy is not None:
            proxy_cache.create(
                db,
                rt.secrets,
                org,
                proxy.upstream_registry,
                username=proxy.username or None,
                password=proxy.password or None,
                expiration_s=proxy.expiration_s,
                insecure=proxy.insecure,
                actor=by,
            )

    await rt.db.write(apply)
    rt.proxy_caches.pop(name, None)


@dataclass(frozen=True, slots=True)
class RobotMemberships:
    robot: RobotRecord
    repositories: list[str] | None
    teams: list[str] | None


async def robots_of(rt: Runtime, owner: AccountRecord, with_memberships: bool) -> list[RobotMemberships]:
    """The robots of `owner`, with the repositories they hold a role on and the teams they are in
    when asked."""

    def read(db: Db) -> list[RobotMemberships]:
        out = []
        for robot in robots.list_for(db, owner):
            if with_memberships:
                held = [name for name, _, _ in grants.held_by_account(db, robot.account.id)]
                out.append(
                    RobotMemberships(robot, held, teams.names_of_member(db, owner.id, robot.account.id))
                )
            else:
                out.append(RobotMemberships(robot, None, None))
        return out

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class TeamCounts:
    team: TeamRecord
    members: int
    repositories: int


@dataclass(frozen=True, slots=True)
class OrgOverview:
    is_admin: bool
    is_member: bool
    teams: list[TeamCounts] | None
    """Only for members."""


async def org_overview(rt: Runtime, who: Identity, org: AccountRecord) -> OrgOverview:
    """What `who` may know of an organization: whether it administers it or is a member, and
    (members only) its teams with their counts."""

    def read(db: Db) -> OrgOverview:
        is_admin = permissions.can_admin_org(db, who, org)
        is_member = permissions.is_org_member(db, who, org)
        found = None
        if is_member:
            found = [TeamCounts(t, *teams.counts(db, t)) for t in teams.list_teams(db, org.id)]
        return OrgOverview(is_admin, is_member, found)

    return await rt.db.read(read)


async def put_team(
    rt: Runtime, org: AccountRecord, name: str, role: str, description: str | None, by: audit.Actor
) -> TeamCounts:
    """Create or update a team; the team with its counts."""

    def apply(db: Db) -> TeamCounts:
        team = teams.upsert(db, org, name, role, description, by)
        return TeamCounts(team, *teams.counts(db, team))

    return await rt.db.write(apply)


async def directory_client_key(
    rt: Runtime, account: AccountRecord, password: str, by: audit.Actor
) -> str | None:
    """A directory user's client key (generateUserClientKey): their directory password, once the
    directory accepts it for the entry the account is linked to, sealed with the server's key (as
    Quay's encrypted password); None when the directory refuses it. The key logs in with the
    directory name. Raises Unavailable when the directory cannot answer."""
    assert rt.directory is not None
    ident = (await rt.db.read(federated_logins.idents_of, account.id)).get(federated_logins.LDAP)
    if ident is None:
        raise NotAllowed("this account is not linked to the directory: it has no directory password")
    user = await rt.directory.authenticate(ident, password)
    if user is None or user.ident != ident:
        return None

    def note(db: Db) -> None:
        audit.record(db, "user_generate_client_key", by, namespace_id=account.id)

    await rt.db.write(note)
    return client_keys.seal_directory(rt, account.id, password)

"""Restricted users (FEATURE_RESTRICTED_USERS): the flag each directory sign-in brings in step
(core/federated_logins.py), the tokens it ends, Quay's rule that combines it with
RESTRICTED_USERS_WHITELIST and AUTHENTICATION_TYPE, and what it forbids (auth/permissions: the
resolver every surface asks)."""

from __future__ import annotations

from typing import Any

import pytest

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.config import Settings, load_settings
from wharf.core import access, accounts, federated_logins, grants, orgs, repositories, revocation, teams
from wharf.core.federated_logins import ExternalUser
from wharf.db.engine import Database, Db

LDAP = federated_logins.LDAP
LDAP_SETTINGS = load_settings(
    None, {"AUTHENTICATION_TYPE": "LDAP", "FEATURE_RESTRICTED_USERS": True}, environ={}
)


def test_each_sign_in_brings_the_restriction_in_step(db: Database) -> None:
    def sign_in(restricted: bool) -> tuple[int, bool, int | None, bool]:
        def write(c: Db) -> tuple[int, bool, int | None, bool]:
            account = federated_logins.sign_in(
                c, LDAP, ExternalUser("bob", None, False, restricted), may_create=True
            )
            who = Identity("user", account.id, account.name, generation=account.credential_gen)
            return (
                account.id,
                federated_logins.is_restricted(c, account.id),
                revocation.generation(c, account.id),
                permissions.can_create_in(c, LDAP_SETTINGS, who, account),
            )

        return db.run_write(write)

    _, restricted, first_gen, may_create = sign_in(False)
    assert not restricted and may_create
    _, restricted, gen, may_create = sign_in(True)
    assert restricted and not may_create
    assert gen == (first_gen or 0) + 1  # its tokens could push to its own namespace: ended
    _, restricted, gen_after, may_create = sign_in(False)
    assert not restricted and may_create and gen_after == gen


def test_each_source_keeps_its_own_restriction(db: Database) -> None:
    """An OIDC sign-in (never restricted) to an account the directory restricts leaves it restricted."""

    def write(c: Db) -> tuple[bool, bool]:
        account = federated_logins.sign_in(
            c, LDAP, ExternalUser("carol", None, False, restricted=True), may_create=True
        )
        federated_logins.attach(c, "keycloak", "sub-of-carol", account.id)
        federated_logins.sign_in(c, "keycloak", ExternalUser("sub-of-carol", None, None), may_create=False)
        after_oidc = federated_logins.is_restricted(c, account.id)
        federated_logins.sign_in(c, LDAP, ExternalUser("carol", None, False), may_create=False)
        return after_oidc, federated_logins.is_restricted(c, account.id)

    after_oidc, after_directory = db.run_write(write)
    assert after_oidc  # the provider has no say about the restriction
    assert not after_directory  # the directory lifted it


# What a restricted user may do, next to the same user unrestricted, as Quay decides it
# (FEATURE_RESTRICTED_USERS): no new repository in their own namespace, and the content of one made
# before is frozen (no push, tag, label, build or trigger) though they still administer it (delete
# it, change its visibility, permissions, notifications); no organization of their own and no
# robot; in organizations their teams and grants decide as for anyone.
RESOLVER_TABLE = [
    # (what, where, unrestricted, restricted)
    ("actions", "own/old", {"pull", "push", "*"}, {"pull"}),
    ("actions", "own/new", {"pull", "push", "*"}, set()),
    ("actions", "acme/app", {"pull", "push"}, {"pull", "push"}),  # a team's write role
    ("actions", "acme/new", {"pull", "push", "*"}, {"pull", "push", "*"}),  # the creator team
    ("actions", "other/app", set(), set()),
    ("role", "own/old", "admin", "admin"),
    ("role", "acme/app", "write", "write"),
    ("frozen", "own/old", False, True),
    ("frozen", "acme/app", False, False),
    ("create", "own", True, False),
    ("create", "acme", True, True),
    ("restricted", "", False, True),  # organizations and robots of their own are refused on it
]


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    def fill(c: Db) -> dict[str, Any]:
        rita = federated_logins.sign_in(c, LDAP, ExternalUser("rita", None, False), may_create=True)
        admin = accounts.create_user(c, "boss", None, None)
        acme = orgs.create(c, "acme", None, admin, None)
        creators = teams.upsert(c, acme, "creators", "creator", None, None)
        teams.add_member(c, acme, creators, rita, None)
        app = repositories.create(c, "acme", "app", visibility="private", actor=None)
        devs = teams.upsert(c, acme, "devs", "member", None, None)
        teams.add_member(c, acme, devs, rita, None)
        grants.set_team_role(c, app, devs, "write", None)
        other = accounts.create_user(c, "other", None, None)
        repositories.create(c, other.name, "app", visibility="private", actor=None)
        repositories.create(c, "rita", "old", visibility="private", actor=None)  # before the restriction
        return {"rita": rita}

    return db.run_write(fill)


def _decide(c: Db, settings: Settings, who: Identity, what: str, where: str) -> object:
    where = where.replace("own", "rita")
    if what == "actions":
        ns, name = where.split("/")
        return set(permissions.repository_access(c, settings, who, ns, name).actions)
    if what in ("role", "frozen"):
        ns, name = where.split("/")
        namespace, repo = access.namespace_and_repository(c, ns, name)
        assert namespace is not None and repo is not None
        if what == "frozen":
            return permissions.content_frozen(c, settings, who, namespace)
        return permissions.repository_role(c, settings, who, namespace, repo)
    if what == "create":
        return permissions.can_create_in(c, settings, who, accounts.get_by_name(c, where))
    return permissions.is_restricted(c, settings, who)


@pytest.mark.parametrize("restricted", [False, True])
def test_the_permission_resolver_freezes_what_a_restricted_user_owns(
    db: Database, world: dict[str, Any], restricted: bool
) -> None:
    settings = LDAP_SETTINGS

    def decide(c: Db) -> list[object]:
        rita = federated_logins.sign_in(
            c, LDAP, ExternalUser("rita", None, False, restricted), may_create=False
        )
        who = Identity("user", rita.id, rita.name, generation=rita.credential_gen)
        return [_decide(c, settings, who, what, where) for what, where, _, _ in RESOLVER_TABLE]

    found = db.run_write(decide)
    expected = [row[3] if restricted else row[2] for row in RESOLVER_TABLE]
    assert [(row[0], row[1], f) for row, f in zip(RESOLVER_TABLE, found, strict=True)] == [
        (row[0], row[1], e) for row, e in zip(RESOLVER_TABLE, expected, strict=True)
    ]

    # a superuser is never restricted
    def as_superuser(c: Db) -> bool:
        rita = world["rita"]
        who = Identity("user", rita.id, rita.name, True, generation=rita.credential_gen)
        return permissions.is_restricted(c, settings, who)

    assert not db.run_read(as_superuser)


# Quay's rule (util/config/superusermanager.py and data/users FederatedUserManager), for a database
# user ("db"), a directory user the filter matched ("ldap-r") and one it did not ("ldap-u").
POLICY_TABLE = [
    # (settings, db, ldap-r, ldap-u)
    ({}, False, False, False),  # the feature off: nobody
    ({"FEATURE_RESTRICTED_USERS": True}, True, True, True),  # Database: every user not whitelisted
    ({"FEATURE_RESTRICTED_USERS": True, "RESTRICTED_USERS_WHITELIST": ["dan", "lou"]}, False, True, False),
    # LDAP: the directory's word (a local account is not in the directory's filter)
    ({"FEATURE_RESTRICTED_USERS": True, "AUTHENTICATION_TYPE": "LDAP"}, False, True, False),
    # with a whitelist, every other user is restricted, whatever the directory says
    (
        {
            "FEATURE_RESTRICTED_USERS": True,
            "AUTHENTICATION_TYPE": "LDAP",
            "RESTRICTED_USERS_WHITELIST": ["lou"],
        },
        True,
        True,
        False,
    ),
]


@pytest.mark.parametrize(("values", "dan", "rae", "lou"), POLICY_TABLE)
def test_who_is_restricted_follows_quays_rule(
    db: Database, values: dict[str, Any], dan: bool, rae: bool, lou: bool
) -> None:
    settings = load_settings(None, values, environ={})

    def decide(c: Db) -> list[bool]:
        found = []
        for name, restricted in (("dan", None), ("rae", True), ("lou", False)):
            if restricted is None:
                account = accounts.get_by_name(c, name) or accounts.create_user(c, name, "pw-of-dan", None)
            else:
                user = ExternalUser(name, None, False, restricted)
                account = federated_logins.sign_in(c, LDAP, user, may_create=True)
            who = Identity("user", account.id, account.name, generation=account.credential_gen)
            found.append(permissions.is_restricted(c, settings, who))
        boss = accounts.create_user(c, "boss", None, None, superuser=True)
        # a superuser never is, with or without FEATURE_SUPERUSERS_FULL_ACCESS
        assert not permissions.is_restricted(c, settings, Identity("user", boss.id, boss.name, True))
        return found

    assert db.run_write(decide) == [dan, rae, lou]

"""Restricted directory users (core/federated_logins.py): the flag each sign-in brings in step, the
tokens it ends, and what it forbids (auth/permissions.can_create_in)."""

from __future__ import annotations

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import federated_logins, revocation
from wharf.core.federated_logins import ExternalUser
from wharf.db.engine import Database, Db

LDAP = federated_logins.LDAP


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
                permissions.can_create_in(c, who, account),
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

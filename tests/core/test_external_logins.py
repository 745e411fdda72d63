"""Logins under way at an OIDC provider (single use, bound to a browser, short-lived) and the
links between accounts and external identities."""

from __future__ import annotations

import pytest

from tests.conftest import Clock
from wharf.core import accounts, audit, external_login_states, federated_logins, repositories
from wharf.core.errors import AlreadyExists, InvalidInput
from wharf.core.external_login_states import ATTACH, LOGIN, PendingLogin
from wharf.core.federated_logins import AlreadyLinked, ExternalUser, NameConfirmed
from wharf.db.engine import Database, Db

PENDING = PendingLogin("keycloak", LOGIN, None, "the-nonce", "the-verifier", "/repository/")


def test_a_state_is_taken_once_by_the_browser_that_started_it(db: Database) -> None:
    db.run_write(external_login_states.start, "state-1", "browser-a", PENDING)
    assert db.run_write(external_login_states.take, "state-1", "browser-a", "keycloak") == PENDING
    assert db.run_write(external_login_states.take, "state-1", "browser-a", "keycloak") is None

    db.run_write(external_login_states.start, "state-2", "browser-a", PENDING)
    # another browser, or another provider, uses the state up without getting it
    assert db.run_write(external_login_states.take, "state-2", "browser-b", "keycloak") is None
    assert db.run_write(external_login_states.take, "state-2", "browser-a", "keycloak") is None
    db.run_write(external_login_states.start, "state-3", "browser-a", PENDING)
    assert db.run_write(external_login_states.take, "state-3", "browser-a", "dex") is None
    assert db.run_write(external_login_states.take, "unknown", "browser-a", "keycloak") is None


def test_a_state_expires(db: Database, clock: Clock) -> None:
    db.run_write(external_login_states.start, "state-1", "browser-a", PENDING)
    clock.advance(external_login_states.LIFETIME_MS / 1000 + 1)
    assert db.run_write(external_login_states.take, "state-1", "browser-a", "keycloak") is None


def test_an_attach_remembers_the_account(db: Database) -> None:
    bob = db.run_write(accounts.create_user, "bob", "pw-xxxxxxxx", None)
    pending = PendingLogin("keycloak", ATTACH, bob.id, "n", "v", "/user/bob?tab=settings")
    db.run_write(external_login_states.start, "s", "b", pending)
    assert db.run_write(external_login_states.take, "s", "b", "keycloak") == pending


def test_link_and_detach(db: Database) -> None:
    bob = db.run_write(accounts.create_user, "bob", "pw-xxxxxxxx", None)
    alice = db.run_write(accounts.create_user, "alice", "pw-xxxxxxxx", None)
    db.run_write(federated_logins.attach, "keycloak", "sub-1", bob.id)
    db.run_write(federated_logins.attach, "keycloak", "sub-1", bob.id)  # again: nothing changes
    assert db.run_read(federated_logins.idents_of, bob.id) == {"keycloak": "sub-1"}
    with pytest.raises(AlreadyLinked):  # the identity is bob's
        db.run_write(federated_logins.attach, "keycloak", "sub-1", alice.id)
    with pytest.raises(AlreadyLinked):  # bob has a keycloak identity already
        db.run_write(federated_logins.attach, "keycloak", "sub-2", bob.id)
    assert db.run_write(federated_logins.detach, "keycloak", bob.id)
    assert not db.run_write(federated_logins.detach, "keycloak", bob.id)
    assert db.run_read(federated_logins.account_for, "keycloak", "sub-1") is None


def test_a_provider_that_does_not_decide_superusers_leaves_them_alone(db: Database) -> None:
    user = ExternalUser("sub-9", "someone@example.org", None, name="Some Person")
    made = db.run_write(federated_logins.sign_in, "keycloak", user, may_create=True)
    assert made.name == "some_person" and not made.is_superuser  # the name claim, made valid
    root = db.run_write(accounts.create_user, "root", None, None, superuser=True)
    db.run_write(federated_logins.attach, "keycloak", "sub-root", root.id)
    again = db.run_write(
        federated_logins.sign_in, "keycloak", ExternalUser("sub-root", None, None), may_create=True
    )
    assert again.id == root.id and again.is_superuser


def test_a_name_of_wharfs_choosing_is_confirmed_or_changed_once(db: Database) -> None:
    def sign_in(ident: str) -> tuple[int, str, bool]:
        def write(c: Db) -> tuple[int, str, bool]:
            a = federated_logins.sign_in(c, "ldap", ExternalUser(ident, None, False), may_create=True)
            return a.id, a.name, federated_logins.name_unconfirmed(c, a.id)

        return db.run_write(write)

    assert sign_in("Pat.Lee")[1:] == ("pat.lee", False)  # only the case changed: nothing to ask
    account_id, name, pending = sign_in("Jane Doe@corp")
    assert (name, pending) == ("jane_doe_corp", True)
    actor = audit.Actor(account_id, name, None)
    confirm = federated_logins.confirm_username
    with pytest.raises(InvalidInput):
        db.run_write(confirm, account_id, "Not Valid", actor)
    with pytest.raises(AlreadyExists):
        db.run_write(confirm, account_id, "pat.lee", actor)
    renamed = db.run_write(confirm, account_id, "jane.doe", actor)
    assert renamed.name == "jane.doe" and renamed.id == account_id
    assert not db.run_read(federated_logins.name_unconfirmed, account_id)
    with pytest.raises(NameConfirmed):
        db.run_write(confirm, account_id, "jane.d", actor)
    assert sign_in("Jane Doe@corp")[1:] == ("jane.doe", False)  # the link follows the rename

    # a namespace that already holds a repository keeps its name (it may only be confirmed)
    other_id, other, _ = sign_in("bob smith")
    db.run_write(repositories.create, other, "app", visibility="private", actor=None)
    with pytest.raises(NameConfirmed, match="holds repositories"):
        db.run_write(confirm, other_id, "bob", actor)
    assert db.run_write(confirm, other_id, other, actor).name == other
    assert not db.run_read(federated_logins.name_unconfirmed, other_id)

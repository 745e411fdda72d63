"""OAuth access tokens (core/tokens.py) on the real database: shown once, stored as a lookup half
and a hash of the secret half, resolved to an enabled account and its scopes until they expire."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.conftest import Clock
from wharf.core import accounts, tokens
from wharf.core.accounts import AccountRecord
from wharf.db.engine import Database, Db
from wharf.db.models import AccessToken

SCOPES = frozenset({"repo:read", "user:read"})


@pytest.fixture
def dev(db: Database) -> AccountRecord:
    return db.run_write(accounts.create_user, "dev", None, None)


def test_a_token_resolves_to_its_account_and_scopes_and_is_stored_hashed(
    db: Database, dev: AccountRecord, audit_kinds: Callable[[], list[str]]
) -> None:
    token = db.run_write(tokens.mint, dev, SCOPES)
    assert len(token) == tokens.LOOKUP_LENGTH + tokens.SECRET_LENGTH
    owner = db.run_read(tokens.resolve, token)
    assert owner is not None and owner.account.name == "dev" and owner.scopes == SCOPES
    assert audit_kinds()[-1] == "create_token"

    def stored(c: Db) -> tuple[str, str]:
        row = c.execute(select(AccessToken.lookup, AccessToken.secret_hash)).one()
        return str(row.lookup), str(row.secret_hash)

    lookup, secret_hash = db.run_read(stored)
    secret = token[tokens.LOOKUP_LENGTH :]
    assert lookup == token[: tokens.LOOKUP_LENGTH] and secret not in secret_hash


@pytest.mark.parametrize(
    "wrong",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # another secret, same lookup
        lambda t: t[:-1],  # too short
        lambda t: t + "x",  # too long
        lambda t: "",
    ],
)
def test_a_wrong_token_resolves_to_nobody(
    db: Database, dev: AccountRecord, wrong: Callable[[str], str]
) -> None:
    token = db.run_write(tokens.mint, dev, SCOPES)
    assert db.run_read(tokens.resolve, wrong(token)) is None


def test_a_token_ends_when_it_expires_or_its_account_is_disabled(
    db: Database, dev: AccountRecord, clock: Clock
) -> None:
    lasting = db.run_write(tokens.mint, dev, SCOPES)
    brief = db.run_write(tokens.mint, dev, SCOPES, lifetime_ms=60_000)
    assert db.run_read(tokens.resolve, brief) is not None
    clock.advance(61)
    assert db.run_read(tokens.resolve, brief) is None
    assert db.run_read(tokens.resolve, lasting) is not None
    db.run_write(accounts.update_user, dev, enabled=False)
    assert db.run_read(tokens.resolve, lasting) is None
    db.run_write(accounts.update_user, dev, enabled=True)
    assert db.run_read(tokens.resolve, lasting) is not None

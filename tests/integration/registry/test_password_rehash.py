"""Stored password hashes follow the argon2 parameters: a hash made with older (or other)
parameters still verifies, and the next successful login stores one in today's parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from tests.integration.registry_client import RegistryClient
from wharf.auth.passwords import PasswordLogins
from wharf.core import accounts
from wharf.db.engine import Database, Db
from wharf.db.models import Account

PW = "rehash-password"
# argon2-cffi's defaults, which Wharf used before it took OWASP's baseline.
OLD = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
# OWASP's first set (m=19 MiB, t=2), which Wharf used until December 2026.
BASELINE = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def _hash_of(db: Db, name: str) -> str:
    return str(db.execute(select(Account.password_hash).where(Account.name == name)).scalar_one())


def _set_hash(db: Db, name: str, value: str) -> None:
    db.execute(update(Account).where(Account.name == name).values(password_hash=value))


@pytest.mark.parametrize("old", [OLD, BASELINE], ids=["64MiB-t3-p4", "19MiB-t2"])
async def test_an_old_hash_is_replaced_on_the_next_login(reg: RegistryClient, old: PasswordHasher) -> None:
    db = reg.wharf.rt.db
    await reg.create_user("ruth", PW)
    fresh = await db.read(_hash_of, "ruth")
    assert not accounts.password_needs_rehash(fresh)
    assert "$m=7168,t=5,p=1$" in fresh
    await db.write(_set_hash, "ruth", old.hash(PW))
    assert accounts.password_needs_rehash(await db.read(_hash_of, "ruth"))

    assert await PasswordLogins(0).authenticate(db, "ruth", "wrong-password") is None
    assert accounts.password_needs_rehash(await db.read(_hash_of, "ruth"))  # a failure changes nothing

    r = await reg.http.get("/v2/auth", auth=("ruth", PW))
    assert r.status_code == 200, r.text
    stored = await db.read(_hash_of, "ruth")
    assert not accounts.password_needs_rehash(stored)
    assert accounts.password_matches(stored, PW)
    assert (await reg.http.get("/v2/auth", auth=("ruth", PW))).status_code == 200


async def test_read_only_logins_keep_the_old_hash(reg: RegistryClient) -> None:
    db = reg.wharf.rt.db
    await reg.create_user("ivo", PW)
    old = OLD.hash(PW)
    await db.write(_set_hash, "ivo", old)
    read_only = Database(reg.wharf.rt.settings.db_uri, read_only_error=lambda: RuntimeError("read-only"))
    try:
        assert await PasswordLogins(0).authenticate(read_only, "ivo", PW) is not None
    finally:
        read_only.dispose()
    assert await db.read(_hash_of, "ivo") == old


async def test_a_password_changed_meanwhile_is_not_overwritten(reg: RegistryClient) -> None:
    db = reg.wharf.rt.db
    await reg.create_user("noor", PW)
    old = OLD.hash(PW)
    await db.write(_set_hash, "noor", old)
    account = await db.read(accounts.get_by_name, "noor")
    assert account is not None
    changed = accounts.hash_password("a-new-password")
    await db.write(_set_hash, "noor", changed)
    # a login that read `old` before the change finishes its re-hash after it: nothing is written
    assert not await db.write(accounts.replace_password_hash, account.id, old, accounts.hash_password(PW))
    assert await db.read(_hash_of, "noor") == changed

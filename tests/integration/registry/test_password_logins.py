"""A process remembers the passwords it verified for a short while, so that the token request of
every pull does not cost an argon2 verification; any revocation ends that memory at once, on every
node, because it is checked against the account's credential generation in the database."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.registry_client import RegistryClient
from tests.integration.world import PW, World
from wharf.app import build_app
from wharf.auth import passwords as password_module
from wharf.auth.passwords import PasswordLogins
from wharf.core import accounts
from wharf.core.accounts import AccountRecord


async def _login(reg: RegistryClient, user: str, password: str) -> int:
    r = await reg.http.get("/v2/auth", params={"scope": f"repository:{user}/app:pull"}, auth=(user, password))
    return r.status_code


async def test_a_verified_password_is_remembered_until_it_changes(world: World) -> None:
    reg, passwords = world.reg, world.reg.wharf.rt.passwords
    assert await _login(reg, "reader", PW) == 200
    before = passwords.remembered_logins
    assert await _login(reg, "reader", PW) == 200
    assert await _login(reg, "reader", PW) == 200
    assert passwords.remembered_logins == before + 2
    # a wrong password is never answered from memory
    assert await _login(reg, "reader", "not-the-password") == 401
    assert passwords.remembered_logins == before + 2

    r = await reg.http.put(
        "/api/v1/superuser/users/reader", json={"password": "a-new-password"}, headers=world.api["admin"]
    )
    assert r.status_code == 200, r.text
    assert await _login(reg, "reader", PW) == 401
    assert await _login(reg, "reader", "a-new-password") == 200


async def test_a_disabled_or_deleted_account_is_forgotten_at_once(world: World) -> None:
    reg, admin = world.reg, world.api["admin"]
    for user in ("writer", "maker"):
        assert await _login(reg, user, PW) == 200
        assert await _login(reg, user, PW) == 200
    r = await reg.http.put("/api/v1/superuser/users/writer", json={"enabled": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert await _login(reg, "writer", PW) == 401
    assert (await reg.http.delete("/api/v1/superuser/users/maker", headers=admin)).status_code == 204
    assert await _login(reg, "maker", PW) == 401


async def test_a_change_on_another_node_reaches_this_one(world: World) -> None:
    """Two apps on one database: the password changed through B ends what A remembered."""
    reg = world.reg
    assert await _login(reg, "direct", PW) == 200
    other = build_app(reg.wharf.rt.settings, run_workers=False)
    try:
        account = await other.rt.passwords.authenticate(other.rt.db, "direct", PW)
        assert account is not None
        await other.rt.db.write(accounts.update_user, account, password="changed-elsewhere")
    finally:
        await other.rt.close()
    assert await _login(reg, "direct", PW) == 401


@pytest.mark.parametrize("ttl", [0, 30])
async def test_memory_lasts_its_time_to_live(world: World, ttl: int) -> None:
    now = [1000.0]
    logins = PasswordLogins(ttl, clock=lambda: now[0])
    db = world.reg.wharf.rt.db
    assert await logins.authenticate(db, "owner", PW) is not None
    assert await logins.authenticate(db, "owner", PW) is not None
    assert logins.remembered_logins == (1 if ttl else 0)
    now[0] += ttl + 1
    assert await logins.authenticate(db, "owner", PW) is not None
    assert logins.remembered_logins == (1 if ttl else 0)  # expired: verified again


def test_the_memory_is_bounded() -> None:
    logins = PasswordLogins(60, max_entries=3)
    for i in range(10):
        logins._remember(logins._digest(f"u{i}", "pw"), AccountRecord(i, f"u{i}", "user", True, False))
    assert len(logins._verified) == 3


async def test_argon2_memory_is_kept_while_logins_come_and_unmapped_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cold logins reuse argon2's memory areas (no page faults per login); once they stop, the
    areas are unmapped, so an idle process holds none."""
    monkeypatch.setattr(password_module, "AREAS_KEPT_S", 3600)
    areas = password_module.areas
    logins = PasswordLogins(0)  # nothing remembered: every login verifies
    db = world.reg.wharf.rt.db
    results = await asyncio.gather(*(logins.authenticate(db, "owner", PW) for _ in range(6)))
    assert all(r is not None for r in results)
    # at most one area per verification running at once (the pool's threads)
    assert 1 <= areas.mapped <= password_module._verification_pool()._max_workers

    monkeypatch.setattr(password_module, "AREAS_KEPT_S", 0)
    assert await logins.authenticate(db, "owner", "wrong") is None
    assert logins.verifications == 7
    deadline = time.monotonic() + 60
    while areas.mapped and time.monotonic() < deadline:  # noqa: ASYNC110  (the release timer)
        await asyncio.sleep(0.01)
    assert areas.mapped == 0

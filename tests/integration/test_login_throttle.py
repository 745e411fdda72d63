"""Failed logins slow down further attempts, the same way for known and unknown usernames."""

from __future__ import annotations

import json

from sqlalchemy import delete, select

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from wharf.core import logins
from wharf.db.models import LogEntry, LoginThrottle


async def _login(reg: RegistryClient, user: str, password: str) -> int:
    r = await reg.http.get("/v2/auth", params={"scope": "repository:x/y:pull"}, auth=(user, password))
    return r.status_code


async def _forget_addresses(reg: RegistryClient) -> None:
    """The address counter is shared by every username from this client; clear it as an operator would."""
    await reg.wharf.rt.db.write(
        lambda db: db.execute(delete(LoginThrottle).where(LoginThrottle.key.like("addr:%")))
    )


async def test_failures_lead_to_429_for_known_and_unknown_users(reg: RegistryClient) -> None:
    for user in ("admin", "nobody-at-all"):
        await _forget_addresses(reg)
        codes = [await _login(reg, user, "wrong-password") for _ in range(logins.FREE_FAILURES + 1)]
        assert codes == [401] * (logins.FREE_FAILURES + 1), user
        r = await reg.http.get(
            "/v2/auth", params={"scope": "repository:x/y:pull"}, auth=(user, "wrong-password")
        )
        assert r.status_code == 429, user
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(r.headers["Retry-After"]) >= 1
        if user == "admin":
            # while blocked even the right password waits: the answer says nothing about the password.
            # (Asked at once: the first block lasts 2 s, and the next user's argon2 checks take a while.)
            await _forget_addresses(reg)
            assert await _login(reg, "admin", ADMIN_PASSWORD) == 429


async def test_the_address_is_throttled_across_usernames(reg: RegistryClient) -> None:
    for i in range(logins.FREE_FAILURES + 1):
        assert await _login(reg, f"guess{i}", "wrong-password") == 401
    assert await _login(reg, "another-guess", "wrong-password") == 429


async def test_success_resets_the_username_counter(reg: RegistryClient) -> None:
    for _ in range(logins.FREE_FAILURES):
        assert await _login(reg, "admin", "wrong-password") == 401
    # the address counter is shared by all usernames from this client; clear it as an operator would
    from sqlalchemy import delete

    from wharf.db.models import LoginThrottle

    await reg.wharf.rt.db.write(
        lambda db: db.execute(delete(LoginThrottle).where(LoginThrottle.key.like("addr:%")))
    )
    assert await _login(reg, "admin", ADMIN_PASSWORD) == 200
    for _ in range(logins.FREE_FAILURES):
        assert await _login(reg, "admin", "wrong-password") == 401


async def test_logins_are_audited(reg: RegistryClient) -> None:
    async def logged() -> list[tuple[str, str | None, str]]:
        rows = await reg.wharf.rt.db.read(
            lambda db: db.execute(
                select(LogEntry.kind, LogEntry.ip, LogEntry.metadata_json).where(
                    LogEntry.kind.like("login_%")
                )
            ).all()
        )
        return [(r.kind, r.ip, json.loads(r.metadata_json)["credential"]) for r in rows]

    # a token request with a scope is part of a pull or push: not a login of its own (as on Quay)
    assert await _login(reg, "admin", ADMIN_PASSWORD) == 200
    assert await logged() == []
    # `docker login` asks without a scope: audited
    assert (await reg.http.get("/v2/auth", auth=("admin", ADMIN_PASSWORD))).status_code == 200
    assert await _login(reg, "admin", "nope-nope") == 401
    assert await logged() == [("login_success", "10.1.2.3", "user"), ("login_failure", "10.1.2.3", "user")]

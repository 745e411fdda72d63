"""Failed logins slow down further attempts, the same way for known and unknown usernames: the
address that failed, not the account's owner; token logins per token; client addresses from
X-Forwarded-For only through TRUSTED_PROXIES."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, select

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from wharf.app import build_app
from wharf.config import Settings
from wharf.core import accounts, apptokens, logins, scopes, tokens
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
    for i in range(logins.ADDRESS_FREE_FAILURES + 1):
        assert await _login(reg, f"guess{i}", "wrong-password") == 401
    assert await _login(reg, "another-guess", "wrong-password") == 429


async def test_success_resets_the_username_counter(reg: RegistryClient) -> None:
    for _ in range(logins.FREE_FAILURES):
        assert await _login(reg, "admin", "wrong-password") == 401
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


async def _login_from(http: httpx.AsyncClient, address: str, user: str, password: str) -> int:
    """A /v2/auth login as a trusted proxy forwards it for a client at `address`."""
    r = await http.get(
        "/v2/auth",
        params={"scope": "repository:x/y:pull"},
        auth=(user, password),
        headers={"X-Forwarded-For": f"203.0.113.250, {address}"},  # the left part is the client's say
    )
    return r.status_code


@pytest.fixture
async def behind_proxy(reg: RegistryClient, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same registry, with the test client's address (10.1.2.3) as its trusted proxy."""
    app = build_app(settings.model_copy(update={"TRUSTED_PROXIES": ["10.1.2.0/24"]}), run_workers=False)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
        yield c
    await app.rt.close()


async def test_an_attacker_does_not_lock_the_owner_out(behind_proxy: httpx.AsyncClient) -> None:
    http = behind_proxy
    # one address guessing: slowed down after its free failures, even with the right password
    for _ in range(logins.FREE_FAILURES):
        assert await _login_from(http, "198.51.100.1", "admin", "wrong-password") == 401
    assert await _login_from(http, "198.51.100.1", "admin", "wrong-password") == 401
    assert await _login_from(http, "198.51.100.1", "admin", ADMIN_PASSWORD) == 429
    # the owner, from an address that has not failed, gets in at once
    assert await _login_from(http, "192.0.2.7", "admin", ADMIN_PASSWORD) == 200
    # many addresses guessing: past the account's global cap every address that failed waits...
    attackers = [f"198.51.100.{i}" for i in range(10, 10 + logins.SUBJECT_FREE_FAILURES)]
    for address in attackers:
        assert await _login_from(http, address, "admin", "wrong-password") == 401
    for address in attackers[:3]:
        assert await _login_from(http, address, "admin", ADMIN_PASSWORD) == 429
    # ... a fresh address may try once more (and then waits too) ...
    assert await _login_from(http, "198.51.100.200", "admin", "wrong-password") == 401
    assert await _login_from(http, "198.51.100.200", "admin", "wrong-password") == 429
    # ... and the owner's right password from addresses that never failed still works
    assert await _login_from(http, "192.0.2.7", "admin", ADMIN_PASSWORD) == 200
    assert await _login_from(http, "2001:db8::7", "admin", ADMIN_PASSWORD) == 200


async def test_token_logins_are_throttled_per_token(
    reg: RegistryClient, behind_proxy: httpx.AsyncClient
) -> None:
    http = behind_proxy
    account = await reg.wharf.rt.db.read(accounts.get_by_name, "admin")
    assert account is not None
    token = await reg.wharf.rt.db.write(tokens.mint, account, scopes.ALL)
    lengths = {
        "$oauthtoken": tokens.LOOKUP_LENGTH + tokens.SECRET_LENGTH,
        "$app": apptokens.LOOKUP_LENGTH + apptokens.SECRET_LENGTH,
    }
    # a stranger's bad tokens (and bad `$app` tokens) do not throttle other tokens, from anywhere
    for _ in range(logins.FREE_FAILURES + 1):
        for user, n in lengths.items():
            assert await _login_from(http, "198.51.100.1", user, secrets.token_urlsafe(n)[:n]) == 401
    assert await _login_from(http, "192.0.2.7", "$oauthtoken", token) == 200
    assert await _login_from(http, "198.51.100.1", "$oauthtoken", token) == 200
    # guessing at one token's secret slows that token from that address only
    guess = token[: tokens.LOOKUP_LENGTH] + "x" * tokens.SECRET_LENGTH
    for _ in range(logins.FREE_FAILURES + 1):
        assert await _login_from(http, "198.51.100.2", "$oauthtoken", guess) == 401
    assert await _login_from(http, "198.51.100.2", "$oauthtoken", token) == 429
    assert await _login_from(http, "192.0.2.7", "$oauthtoken", token) == 200


async def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy(reg: RegistryClient) -> None:
    """Without TRUSTED_PROXIES (the default) every request is the test client's 10.1.2.3, whatever
    X-Forwarded-For claims, so changing it does not escape the throttle."""
    for i in range(logins.FREE_FAILURES + 1):
        assert await _login_from(reg.http, f"198.51.100.{i}", "admin", "wrong-password") == 401
    assert await _login_from(reg.http, "198.51.100.99", "admin", ADMIN_PASSWORD) == 429
    rows = await reg.wharf.rt.db.read(
        lambda db: db.execute(select(LogEntry.ip).where(LogEntry.kind == "login_failure")).scalars().all()
    )
    assert set(rows) == {"10.1.2.3"}


async def test_the_audit_log_has_the_forwarded_address_from_a_trusted_proxy(
    reg: RegistryClient, behind_proxy: httpx.AsyncClient
) -> None:
    assert await _login_from(behind_proxy, "2001:db8::1", "admin", "wrong-password") == 401
    r = await behind_proxy.get(
        "/v2/auth", auth=("admin", "wrong"), headers={"X-Forwarded-For": "10.1.2.9, not-an-address, 10.1.2.8"}
    )
    assert r.status_code == 401
    rows = await reg.wharf.rt.db.read(
        lambda db: (
            db.execute(select(LogEntry.ip).where(LogEntry.kind == "login_failure").order_by(LogEntry.id))
            .scalars()
            .all()
        )
    )
    # every hop is a trusted proxy up to the garbage: the nearest one is the best we know
    assert rows == ["2001:db8::1", "10.1.2.8"]

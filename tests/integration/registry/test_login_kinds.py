"""The credentials docker login accepts besides a password: `$app` app tokens and `$oauthtoken`."""

from __future__ import annotations

import jwt

from tests.integration.registry_client import RegistryClient
from wharf.core import accounts, apptokens, scopes, tokens

PW = "login-kinds-pw"


async def _api(
    reg: RegistryClient, user: str, granted: frozenset[str] = scopes.ALL
) -> tuple[dict[str, str], str]:
    account = await reg.wharf.rt.db.read(accounts.get_by_name, user)
    assert account is not None
    token = await reg.wharf.rt.db.write(tokens.mint, account, scopes.expand(granted))
    return {"Authorization": f"Bearer {token}"}, token


async def _actions(reg: RegistryClient, user: str, password: str, repo: str) -> list[str] | None:
    r = await reg.http.get(
        "/v2/auth", params={"scope": f"repository:{repo}:pull,push"}, auth=(user, password)
    )
    if r.status_code != 200:
        return None
    return sorted(jwt.decode(r.json()["token"], options={"verify_signature": False})["access"][0]["actions"])


async def test_app_token_lifecycle_and_login(reg: RegistryClient) -> None:
    await reg.create_user("hana", PW)
    h, _ = await _api(reg, "hana")
    r = await reg.http.post("/api/v1/user/apptoken", json={"title": "laptop"}, headers=h)
    assert r.status_code == 200, r.text  # as Quay answers
    created = r.json()["token"]
    secret = created["token_code"]
    assert len(secret) == 120
    assert await _actions(reg, "$app", secret, "hana/app") == ["pull", "push"]
    # a different last character (replacing it with "x" would change nothing one time in 64)
    wrong = secret[:-1] + ("y" if secret.endswith("x") else "x")
    assert await _actions(reg, "$app", wrong, "hana/app") is None
    listed = (await reg.http.get("/api/v1/user/apptoken", headers=h)).json()["tokens"]
    assert [t["title"] for t in listed] == ["laptop"]
    assert "token_code" not in listed[0]  # shown once, never again
    assert listed[0]["last_accessed"] is not None
    got = (await reg.http.get(f"/api/v1/user/apptoken/{created['uuid']}", headers=h)).json()["token"]
    assert got["title"] == "laptop" and "token_code" not in got
    assert (await reg.http.delete(f"/api/v1/user/apptoken/{created['uuid']}", headers=h)).status_code == 204
    assert await _actions(reg, "$app", secret, "hana/app") is None
    assert (await reg.http.get(f"/api/v1/user/apptoken/{created['uuid']}", headers=h)).status_code == 404


async def test_expired_app_token(reg: RegistryClient) -> None:
    from wharf.core import apptokens

    account = await reg.wharf.rt.db.read(accounts.get_by_name, "admin")
    assert account is not None
    _, secret = await reg.wharf.rt.db.write(apptokens.create, account, "short-lived", -1, None)
    assert await _actions(reg, "$app", secret, "admin/app") is None


async def test_app_tokens_are_private_to_their_user(reg: RegistryClient) -> None:
    await reg.create_user("ivan", PW)
    await reg.create_user("judy", PW)
    ivan, _ = await _api(reg, "ivan")
    judy, _ = await _api(reg, "judy")
    token_uuid = (await reg.http.post("/api/v1/user/apptoken", json={"title": "t"}, headers=ivan)).json()[
        "token"
    ]["uuid"]
    assert (await reg.http.get(f"/api/v1/user/apptoken/{token_uuid}", headers=judy)).status_code == 404
    assert (await reg.http.delete(f"/api/v1/user/apptoken/{token_uuid}", headers=judy)).status_code == 404
    assert (
        await reg.http.post("/api/v1/user/apptoken", json={"title": " "}, headers=ivan)
    ).status_code == 400


async def test_oauth_token_login_is_capped_by_its_scopes(reg: RegistryClient) -> None:
    await reg.create_user("kim", PW)
    await reg.push_blob("kim/app", b"x", user="kim", password=PW)
    _, read_only = await _api(reg, "kim", frozenset({scopes.REPO_READ}))
    assert await _actions(reg, "$oauthtoken", read_only, "kim/app") == ["pull"]
    assert await _actions(reg, "$oauthtoken", read_only, "kim/new") == []  # no repo:create
    _, full = await _api(reg, "kim")
    assert await _actions(reg, "$oauthtoken", full, "kim/app") == ["pull", "push"]
    assert await _actions(reg, "$oauthtoken", full, "kim/new") == ["pull", "push"]
    assert await _actions(reg, "$oauthtoken", "not-a-token", "kim/app") is None


async def test_token_logins_never_cost_argon2(reg: RegistryClient) -> None:
    """Robot tokens, app tokens, OAuth tokens and client keys are random, not chosen by people:
    they are checked with a hash or a decryption, never with argon2, which is for passwords."""
    await reg.create_user("lior", PW)
    h, oauth = await _api(reg, "lior")
    robot = (await reg.http.put("/api/v1/user/robots/ci", headers=h)).json()["token"]
    app = (await reg.http.post("/api/v1/user/apptoken", json={"title": "ci"}, headers=h)).json()
    r = await reg.http.post("/api/v1/user/clientkey", json={"password": PW}, headers=h)
    assert r.status_code == 200, r.text
    client_key = r.json()["key"]
    passwords = reg.wharf.rt.passwords
    before = passwords.verifications
    assert await _actions(reg, "lior+ci", robot, "lior/app") == []
    assert await _actions(reg, "$app", app["token"]["token_code"], "lior/app") == ["pull", "push"]
    assert await _actions(reg, "$oauthtoken", oauth, "lior/app") == ["pull", "push"]
    assert await _actions(reg, "lior", client_key, "lior/app") == ["pull", "push"]
    assert passwords.verifications == before
    # a wrong password does cost one (and so does a right one, unless verified lately)
    assert await _actions(reg, "lior", "not-the-password", "lior/app") is None
    assert passwords.verifications == before + 1


async def test_app_token_last_use_is_recorded_to_a_minute(reg: RegistryClient) -> None:
    """An app token's last use is written once a minute at most, not on every token request."""
    await reg.create_user("mira", PW)
    h, _ = await _api(reg, "mira")
    r = await reg.http.post("/api/v1/user/apptoken", json={"title": "ci"}, headers=h)
    secret = r.json()["token"]["token_code"]
    db = reg.wharf.rt.db
    account = await db.read(accounts.get_by_name, "mira")
    assert account is not None

    async def last_used() -> int | None:
        return (await db.read(apptokens.list_for, account))[0].last_used_ms

    assert await last_used() is None
    assert await _actions(reg, "$app", secret, "mira/app") == ["pull", "push"]
    first = await last_used()
    assert first is not None
    assert await _actions(reg, "$app", secret, "mira/app") == ["pull", "push"]
    assert await last_used() == first  # within the minute: nothing written
    await db.write(apptokens.touch, secret, first + apptokens.USE_RESOLUTION_MS)
    assert await last_used() == first + apptokens.USE_RESOLUTION_MS

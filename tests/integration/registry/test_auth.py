"""/v2/ and the token endpoint: challenges, credentials, down-scoping."""

from __future__ import annotations

import base64

import httpx
import jwt

from tests.conftest import ADMIN_PASSWORD, TEST_HOSTNAME
from tests.integration.registry_client import RegistryClient


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_base_requires_token_and_sends_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/")
    assert r.status_code == 401
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert (
        r.headers["WWW-Authenticate"] == 'Bearer realm="http://registry.test/v2/auth",service="registry.test"'
    )
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_the_realm_never_comes_from_the_host_header(client: httpx.AsyncClient) -> None:
    # Credentials go to the realm: a client's Host header (or a proxy passing one on) must not
    # choose where.
    r = await client.get("/v2/", headers={"Host": "evil.example:5000"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="http://registry.test/v2/auth",')


async def test_base_with_token(reg: RegistryClient) -> None:
    token = await reg.token()
    r = await reg.http.get("/v2/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_token_claims_grant_requested_scope(reg: RegistryClient) -> None:
    token = await reg.token("repository:admin/app:pull,push")
    claims = _claims(token)
    assert claims["aud"] == TEST_HOSTNAME  # SERVER_HOSTNAME, never the request's Host
    assert claims["sub"] == "admin"
    assert claims["access"] == [{"type": "repository", "name": "admin/app", "actions": ["pull", "push"]}]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"  # a new installation's key is EC P-256


async def test_wrong_password_is_401_without_revealing_user(client: httpx.AsyncClient) -> None:
    bad_pw = await client.get("/v2/auth", params={"scope": "repository:admin/x:pull"}, auth=("admin", "nope"))
    no_user = await client.get(
        "/v2/auth", params={"scope": "repository:admin/x:pull"}, auth=("ghost", "nope")
    )
    assert bad_pw.status_code == no_user.status_code == 401
    assert bad_pw.json() == no_user.json()
    assert bad_pw.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_anonymous_without_scope_must_log_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/auth")
    assert r.status_code == 401


async def test_malformed_basic_header_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/auth", headers={"Authorization": "Basic %%%notbase64"})
    assert r.status_code == 401
    r = await client.get(
        "/v2/auth", headers={"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}
    )
    assert r.status_code == 401


async def test_other_users_namespace_is_down_scoped(reg: RegistryClient) -> None:
    await reg.create_user("alice", "alice-password")
    token = await reg.token("repository:admin/app:pull,push", user="alice", password="alice-password")
    assert _claims(token)["access"] == [{"type": "repository", "name": "admin/app", "actions": []}]
    own = await reg.token("repository:alice/app:pull,push", user="alice", password="alice-password")
    assert _claims(own)["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
    ]


async def test_missing_namespace_grants_nothing(reg: RegistryClient) -> None:
    token = await reg.token("repository:nobody/app:pull,push")
    assert _claims(token)["access"] == [{"type": "repository", "name": "nobody/app", "actions": []}]


async def test_invalid_scope_and_name(client: httpx.AsyncClient) -> None:
    auth = ("admin", ADMIN_PASSWORD)
    r = await client.get("/v2/auth", params={"scope": "garbage"}, auth=auth)
    assert r.status_code == 400
    r = await client.get("/v2/auth", params={"scope": "repository:UPPER/case:pull"}, auth=auth)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "NAME_INVALID"


async def test_bad_bearer_token_is_rejected(client: httpx.AsyncClient, reg: RegistryClient) -> None:
    token = await reg.token("repository:admin/app:pull")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    r = await client.get("/v2/admin/app/tags/list", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_token_for_another_service_is_rejected(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v2/auth",
        params={"service": "elsewhere", "scope": "repository:admin/app:pull"},
        auth=("admin", ADMIN_PASSWORD),
    )
    token = r.json()["token"]
    assert (
        _claims(token)["aud"] == TEST_HOSTNAME
    )  # always this registry (SERVER_HOSTNAME), whatever was asked


async def test_insufficient_scope_challenge_names_scope(reg: RegistryClient) -> None:
    headers = await reg.headers("admin/app", "pull")
    r = await reg.http.post("/v2/admin/app/blobs/uploads/", headers=headers)
    # logged in, but the token does not carry push: 401, with a challenge a client can follow
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert 'scope="repository:admin/app:pull,push"' in challenge
    assert 'error="insufficient_scope"' in challenge
    body = r.json()["errors"][0]
    assert body["code"] == "UNAUTHORIZED"
    assert body["detail"] == [{"Type": "repository", "Name": "admin/app", "Action": "push"}]


async def test_missing_token_is_401_with_scope(reg: RegistryClient) -> None:
    r = await reg.http.get("/v2/admin/app/tags/list")
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert 'scope="repository:admin/app:pull"' in r.headers["WWW-Authenticate"]
    assert "error=" not in r.headers["WWW-Authenticate"]


async def test_signing_key_survives_restart(settings: object, reg: RegistryClient) -> None:
    from wharf.app import build_app

    token = await reg.token("repository:admin/app:pull")
    app2 = build_app(reg.wharf.rt.settings, run_workers=False)
    try:
        grant = app2.rt.tokens.verify(token)
        assert grant.identity.name == "admin"
    finally:
        await app2.rt.close()

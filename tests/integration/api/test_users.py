"""/api/v1 user and superuser endpoints, OAuth bearer tokens and Quay's error shape."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.registry_client import RegistryClient
from wharf.app import WharfApp, build_app
from wharf.config import Settings, load_settings
from wharf.core import accounts, scopes, tokens
from wharf.db.engine import Database
from wharf.db.migrate import upgrade


async def _token(reg: RegistryClient, user: str, granted: frozenset[str] = scopes.ALL) -> dict[str, str]:
    account = await reg.wharf.rt.db.read(accounts.get_by_name, user)
    assert account is not None
    token = await reg.wharf.rt.db.write(tokens.mint, account, scopes.expand(granted))
    return {"Authorization": f"Bearer {token}"}


def _is_quay_error(r: httpx.Response, status: int, error_type: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    assert body["error_type"] == error_type
    assert body["title"] == error_type
    assert body["detail"] == body["error_message"]
    assert body["type"].endswith(f"/api/v1/error/{error_type}")


async def test_logged_in_user(reg: RegistryClient) -> None:
    r = await reg.http.get("/api/v1/user/", headers=await _token(reg, "admin"))
    assert r.status_code == 200
    me = r.json()
    assert me["username"] == "admin"
    assert me["super_user"] is True
    assert me["anonymous"] is False
    assert set(me["avatar"]) == {"name", "hash", "color", "kind"}


async def test_anonymous_and_bad_tokens(reg: RegistryClient) -> None:
    _is_quay_error(await reg.http.get("/api/v1/user/"), 401, "invalid_token")
    _is_quay_error(
        await reg.http.get("/api/v1/user/", headers={"Authorization": "Bearer nope"}), 401, "invalid_token"
    )
    good = (await _token(reg, "admin"))["Authorization"]
    tampered = good[:-1] + ("A" if not good.endswith("A") else "B")
    _is_quay_error(
        await reg.http.get("/api/v1/user/", headers={"Authorization": tampered}), 401, "invalid_token"
    )
    basic = httpx.BasicAuth("admin", "secret-admin-pw")
    _is_quay_error(await reg.http.get("/api/v1/user/", auth=basic), 401, "invalid_token")
    # the error's link names SERVER_HOSTNAME, never the Host header the caller sent
    forged = await reg.http.get("/api/v1/user/", headers={"Host": "evil.example"})
    assert forged.json()["type"] == "http://registry.test/api/v1/error/invalid_token"


async def test_scope_caps_the_token(reg: RegistryClient) -> None:
    h = await _token(reg, "admin", frozenset({scopes.REPO_READ}))
    _is_quay_error(await reg.http.get("/api/v1/user/", headers=h), 403, "insufficient_scope")
    # superuser rights need the super:user scope too
    h = await _token(reg, "admin", frozenset({scopes.USER_READ}))
    _is_quay_error(await reg.http.get("/api/v1/superuser/users/", headers=h), 403, "insufficient_scope")


async def test_disabled_user_token_stops_working(reg: RegistryClient) -> None:
    await reg.create_user("eve", "eve-password")
    h = await _token(reg, "eve")
    assert (await reg.http.get("/api/v1/user/", headers=h)).status_code == 200
    admin = await _token(reg, "admin")
    r = await reg.http.put("/api/v1/superuser/users/eve", json={"enabled": False}, headers=admin)
    assert r.status_code == 200 and r.json()["enabled"] is False
    _is_quay_error(await reg.http.get("/api/v1/user/", headers=h), 401, "invalid_token")
    login = await reg.http.get(
        "/v2/auth", params={"scope": "repository:eve/x:pull"}, auth=("eve", "eve-password")
    )
    assert login.status_code == 401


async def test_public_user_information(reg: RegistryClient) -> None:
    r = await reg.http.get("/api/v1/users/admin")
    assert r.status_code == 200
    assert r.json()["username"] == "admin"
    assert "email" not in r.json()
    _is_quay_error(await reg.http.get("/api/v1/users/ghost"), 404, "not_found")


async def test_superuser_manages_users(reg: RegistryClient) -> None:
    admin = await _token(reg, "admin")
    r = await reg.http.post(
        "/api/v1/superuser/users/", json={"username": "frank", "email": "f@example.com"}, headers=admin
    )
    assert r.status_code == 200, r.text
    password = r.json()["password"]
    assert len(password) >= 16
    # the generated password works for docker login
    login = await reg.http.get(
        "/v2/auth", params={"scope": "repository:frank/x:pull,push"}, auth=("frank", password)
    )
    assert login.status_code == 200
    listed = (await reg.http.get("/api/v1/superuser/users/", headers=admin)).json()["users"]
    assert [u["username"] for u in listed] == ["admin", "frank"]
    r = await reg.http.get("/api/v1/superuser/users/frank", headers=admin)
    assert r.json()["email"] == "f@example.com"
    r = await reg.http.put(
        "/api/v1/superuser/users/frank", json={"password": "a-new-password"}, headers=admin
    )
    assert r.status_code == 200
    login = await reg.http.get(
        "/v2/auth", params={"scope": "repository:frank/x:pull"}, auth=("frank", password)
    )
    assert login.status_code == 401
    r = await reg.http.delete("/api/v1/superuser/users/frank", headers=admin)
    assert r.status_code == 204
    _is_quay_error(await reg.http.get("/api/v1/superuser/users/frank", headers=admin), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"username": "Bad Name"},
        {"username": "x"},
        {"username": "admin"},
        {},
        {"username": 5},
        {"username": "a" * 300},
    ],
)
async def test_create_user_rejects_bad_input(reg: RegistryClient, body: dict[str, object]) -> None:
    r = await reg.http.post("/api/v1/superuser/users/", json=body, headers=await _token(reg, "admin"))
    _is_quay_error(r, 400, "invalid_request")


async def test_malformed_json_body(reg: RegistryClient) -> None:
    h = {**await _token(reg, "admin"), "Content-Type": "application/json"}
    r = await reg.http.post("/api/v1/superuser/users/", content=b"{not json", headers=h)
    _is_quay_error(r, 400, "invalid_request")


async def test_ordinary_user_is_not_a_superuser(reg: RegistryClient) -> None:
    await reg.create_user("gina", "gina-password")
    h = await _token(reg, "gina")
    _is_quay_error(await reg.http.get("/api/v1/superuser/users/", headers=h), 403, "insufficient_scope")
    _is_quay_error(
        await reg.http.delete("/api/v1/superuser/users/admin", headers=h), 403, "insufficient_scope"
    )


async def test_superusers_cannot_be_deleted_or_disable_themselves(reg: RegistryClient) -> None:
    admin = await _token(reg, "admin")
    _is_quay_error(
        await reg.http.delete("/api/v1/superuser/users/admin", headers=admin), 403, "insufficient_scope"
    )
    r = await reg.http.put("/api/v1/superuser/users/admin", json={"enabled": False}, headers=admin)
    _is_quay_error(r, 400, "invalid_request")


async def test_unknown_api_path_is_a_quay_404(reg: RegistryClient) -> None:
    _is_quay_error(await reg.http.get("/api/v1/nothing/here"), 404, "not_found")


async def test_openapi_uses_quay_operation_ids(reg: RegistryClient) -> None:
    doc = (await reg.http.get("/api/v1/openapi.json")).json()
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {
        "getLoggedInUser",
        "getUserInformation",
        "listAllUsers",
        "createInstallUser",
        "getInstallUser",
        "changeInstallUser",
        "deleteInstallUser",
    } <= ops
    # the Swagger 2.0 discovery document is made from the same routes
    swagger = (await reg.http.get("/api/v1/discovery")).json()
    assert {op["operationId"] for path in swagger["paths"].values() for op in path.values()} == ops


async def test_sign_up_and_self_service(reg: RegistryClient) -> None:
    r = await reg.http.post("/api/v1/user/", json={"username": "newbie", "password": "newbie-password"})
    assert r.status_code == 200, r.text
    assert r.json() == {"awaiting_verification": False}
    login = await reg.http.get(
        "/v2/auth", params={"scope": "repository:newbie/x:push"}, auth=("newbie", "newbie-password")
    )
    assert login.status_code == 200
    _is_quay_error(
        await reg.http.post("/api/v1/user/", json={"username": "newbie", "password": "x" * 10}),
        400,
        "invalid_request",
    )
    _is_quay_error(
        await reg.http.post("/api/v1/user/", json={"username": "shorty", "password": "short"}),
        400,
        "invalid_request",
    )
    h = await _token(reg, "newbie")
    r = await reg.http.put(
        "/api/v1/user/", json={"email": "n@example.com", "password": "another-password"}, headers=h
    )
    assert r.status_code == 200 and r.json()["email"] == "n@example.com"
    login = await reg.http.get(
        "/v2/auth", params={"scope": "repository:newbie/x:push"}, auth=("newbie", "another-password")
    )
    assert login.status_code == 200
    read_only = await _token(reg, "newbie", frozenset({scopes.USER_READ}))
    _is_quay_error(await reg.http.delete("/api/v1/user/", headers=read_only), 403, "insufficient_scope")
    assert (await reg.http.delete("/api/v1/user/", headers=h)).status_code == 204
    _is_quay_error(await reg.http.get("/api/v1/users/newbie"), 404, "not_found")
    _is_quay_error(
        await reg.http.delete("/api/v1/user/", headers=await _token(reg, "admin")), 400, "invalid_request"
    )


async def test_sign_up_can_be_disabled(settings: Settings, wharf: WharfApp) -> None:
    closed = build_app(settings.model_copy(update={"FEATURE_USER_CREATION": False}), run_workers=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=closed), base_url="http://registry.test"
        ) as c:
            r = await c.post("/api/v1/user/", json={"username": "newbie", "password": "newbie-password"})
            _is_quay_error(r, 403, "insufficient_scope")
    finally:
        await closed.rt.close()


async def test_initialize_the_first_user(tmp_path: Path) -> None:
    settings = load_settings(
        None, {"DATA_DIR": tmp_path / "fresh", "FEATURE_USER_INITIALIZE": True}, environ={}
    )
    settings.DATA_DIR.mkdir(parents=True)
    db = Database(settings.db_uri, pool_size=1)
    upgrade(db)
    db.dispose()
    app = build_app(settings, run_workers=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://registry.test"
        ) as c:
            body = {
                "username": "root",
                "password": "root-password",
                "email": "r@example.com",
                "access_token": True,
            }
            r = await c.post("/api/v1/user/initialize", json=body)
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            me = await c.get("/api/v1/user/", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["username"] == "root" and me.json()["super_user"] is True
            again = await c.post("/api/v1/user/initialize", json={**body, "username": "second"})
            _is_quay_error(again, 400, "invalid_request")
    finally:
        await app.rt.close()


async def test_initialize_is_off_by_default(reg: RegistryClient) -> None:
    r = await reg.http.post("/api/v1/user/initialize", json={"username": "x1", "password": "x" * 10})
    _is_quay_error(r, 404, "not_found")

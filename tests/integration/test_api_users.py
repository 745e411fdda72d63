"""/api/v1 user and superuser endpoints, OAuth bearer tokens and Quay's error shape."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.registry_client import RegistryClient
from wharf.auth import scopes
from wharf.core import accounts, tokens


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
    assert (await reg.http.get("/api/v1/discovery")).json()["paths"] == doc["paths"]

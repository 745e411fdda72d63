"""OAuth applications of an organization, and the browser flows that mint tokens for them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.world import PW, World
from wharf.config import Settings, load_settings

REDIRECT = "https://app.example.com/callback"


@pytest.fixture
def settings(data_dir: object, db_uri: str | None) -> Settings:
    return load_settings(
        None,
        {"DATA_DIR": data_dir, "DB_URI": db_uri, "DIRECT_OAUTH_CLIENTID_WHITELIST": ["DIRECTCLIENT"]},
        environ={},
    )


async def _new_app(world: World) -> dict[str, Any]:
    r = await world.reg.http.post(
        "/api/v1/organization/acme/applications",
        json={"name": "Deploy bot", "redirect_uri": REDIRECT, "application_uri": "https://app.example.com"},
        headers=world.api["owner"],
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_application_crud(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    app = await _new_app(world)
    assert app["name"] == "Deploy bot" and len(app["client_id"]) == 20 and app["client_secret"]
    base = f"/api/v1/organization/acme/applications/{app['client_id']}"
    assert (await http.get("/api/v1/organization/acme/applications", headers=owner)).json()[
        "applications"
    ] == [app]
    assert (await http.get(base, headers=owner)).json() == app
    assert (await http.get(base, headers=world.api["reader"])).status_code == 403
    r = await http.put(
        base,
        json={"name": "Renamed", "redirect_uri": REDIRECT, "application_uri": "https://x.example.com"},
        headers=owner,
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    r = await http.put(
        base, json={"name": "x", "redirect_uri": "javascript:alert(1)", "application_uri": ""}, headers=owner
    )
    assert r.status_code == 400
    new = (await http.post(f"{base}/resetclientsecret", headers=owner)).json()
    assert new["client_secret"] != app["client_secret"]
    info = (await http.get(f"/api/v1/app/{app['client_id']}")).json()
    assert (
        info["name"] == "Renamed" and info["organization"]["name"] == "acme" and "client_secret" not in info
    )
    assert (await http.get("/api/v1/app/NOPE")).status_code == 404
    assert (await http.delete(base, headers=owner)).status_code == 204
    assert (await http.get(base, headers=owner)).status_code == 404


async def test_tokens_minted_for_an_application(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    app = await _new_app(world)
    base = f"/api/v1/organization/acme/applications/{app['client_id']}/tokens"
    r = await http.post(base, json={"name": "ci", "scope": "repo:read"}, headers=owner)
    assert r.status_code == 201, r.text
    minted = r.json()
    assert minted["scopes"] == ["repo:read"] and minted["user"] == "owner"
    h = {"Authorization": f"Bearer {minted['access_token']}"}
    # the token's scope caps its user: reading works, administering the organization does not
    assert (await http.get("/api/v1/repository/acme/app/permissions/user/", headers=h)).status_code == 403
    assert (await http.get("/api/v1/organization/acme/members", headers=h)).status_code == 403
    listed = (await http.get(base, headers=owner)).json()["tokens"]
    assert [t["uuid"] for t in listed] == [minted["uuid"]] and "access_token" not in listed[0]
    r = await http.post(base, json={"name": "bad", "scope": "repo:read everything"}, headers=owner)
    assert r.status_code == 400
    assert (await http.delete(f"{base}/{minted['uuid']}", headers=owner)).status_code == 204
    assert (await http.get("/api/v1/user/", headers=h)).status_code == 401
    assert (await http.delete(f"{base}/{minted['uuid']}", headers=owner)).status_code == 404


async def _signed_in(world: World, user: str = "writer") -> str:
    r = await world.reg.http.post("/api/v1/signin", json={"username": user, "password": PW})
    return str(r.headers["X-Next-CSRF-Token"])


async def test_implicit_grant(world: World) -> None:
    http = world.reg.http
    app = await _new_app(world)
    params = {
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "repo:read",
        "response_type": "token",
        "state": "s1",
    }
    # not signed in: the consent page asks for the password
    page = await http.get("/oauth/authorize", params=params)
    assert page.status_code == 200 and "name='password'" in page.text and "Deploy bot" in page.text
    csrf = await _signed_in(world)
    page = await http.get("/oauth/authorize", params=params)
    assert "Signed in as <b>writer</b>" in page.text and csrf in page.text
    # the form without its CSRF token is refused
    r = await http.post("/oauth/authorizeapp", data=params)
    assert r.status_code == 403
    r = await http.post("/oauth/authorizeapp", data={**params, "_csrf_token": csrf})
    assert r.status_code == 302
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    fragment = parse_qs(target.fragment)
    assert (
        fragment["token_type"] == ["Bearer"]
        and fragment["state"] == ["s1"]
        and fragment["scope"] == ["repo:read"]
    )
    h = {"Authorization": f"Bearer {fragment['access_token'][0]}"}
    r = await http.get("/api/v1/repository/acme/app/permissions/user/", headers=h)
    assert r.status_code == 403  # repo:read does not administer
    # the token shows up in the application's list, bound to the user who approved
    tokens = (
        await http.get(
            f"/api/v1/organization/acme/applications/{app['client_id']}/tokens", headers=world.api["owner"]
        )
    ).json()
    assert [t["user"] for t in tokens["tokens"]] == ["writer"]


async def test_code_grant(world: World) -> None:
    http = world.reg.http
    app = await _new_app(world)
    params = {
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT + "/sub",
        "scope": "repo:write",
        "response_type": "code",
        "state": "xyz",
    }
    # typing the password into the consent page approves and signs in
    r = await http.post("/oauth/authorizeapp", data={**params, "username": "writer", "password": PW})
    assert r.status_code == 302, r.text
    assert "wharf_session" in r.headers.get("set-cookie", "")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT + "/sub",
        "client_id": app["client_id"],
    }
    r = await http.post("/oauth/access_token", data={**exchange, "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await http.post("/oauth/access_token", data={**exchange, "client_secret": app["client_secret"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "repo:read repo:write"
    r = await http.get(
        "/v2/auth",
        params={"scope": "repository:acme/app:pull,push"},
        auth=("$oauthtoken", body["access_token"]),
    )
    assert r.status_code == 200
    # a code works once
    r = await http.post("/oauth/access_token", data={**exchange, "client_secret": app["client_secret"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await http.post("/oauth/access_token", data={"grant_type": "password", "client_id": app["client_id"]})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_authorization_requests_are_checked(world: World) -> None:
    http = world.reg.http
    app = await _new_app(world)
    base = {
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "repo:read",
        "response_type": "token",
    }
    # an unregistered redirect is never followed
    r = await http.get("/oauth/authorize", params={**base, "redirect_uri": "https://evil.example.com/"})
    assert r.status_code == 400 and "location" not in r.headers
    r = await http.get("/oauth/authorize", params={**base, "client_id": "NOPE"})
    assert r.status_code == 404
    # a bad scope goes back to the application as an OAuth error
    r = await http.get("/oauth/authorize", params={**base, "scope": "repo:read root"})
    assert r.status_code == 302 and "error=invalid_scope" in r.headers["location"]
    r = await http.get("/oauth/authorize", params={**base, "response_type": "id_token"})
    assert "error=unsupported_response_type" in r.headers["location"]
    # Basic credentials only for whitelisted clients
    r = await http.post("/oauth/authorizeapp", data=base, auth=("writer", PW))
    assert r.status_code == 403
    r = await http.post("/oauth/authorizeapp", data=base)
    assert r.status_code == 401
    r = await http.post(
        "/oauth/authorizeapp", data={**base, "username": "writer", "password": "wrong-password"}
    )
    assert r.status_code == 403 and "Invalid username or password" in r.text
    r = await http.post(
        "/oauth/authorizeapp",
        content=b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


async def test_direct_oauth_for_whitelisted_clients(world: World) -> None:
    http = world.reg.http
    app = await _new_app(world)
    from sqlalchemy import update

    from wharf.db.models import OAuthApplication

    await world.reg.wharf.rt.db.write(
        lambda db: db.execute(
            update(OAuthApplication)
            .where(OAuthApplication.client_id == app["client_id"])
            .values(client_id="DIRECTCLIENT")
        )
    )
    params = {
        "client_id": "DIRECTCLIENT",
        "redirect_uri": REDIRECT,
        "scope": "repo:read",
        "response_type": "token",
    }
    r = await http.post("/oauth/authorizeapp", data=params, auth=("reader", PW))
    assert r.status_code == 302
    assert "access_token=" in r.headers["location"] and "set-cookie" not in r.headers

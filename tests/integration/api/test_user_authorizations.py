"""The user's OAuth authorizations (listUserAuthorizations, getUserAuthorization,
deleteUserAuthorization): the tokens applications hold for the user, Quay's view of each, and
revoking one ends it; nobody sees or revokes another user's."""

from __future__ import annotations

from tests.integration.world import World
from wharf.core import accounts, applications, audit, scopes


async def test_list_get_and_revoke(world: World) -> None:
    rt, http = world.reg.wharf.rt, world.reg.http
    org = await rt.db.read(accounts.get_by_name, "acme")
    reader = await rt.db.read(accounts.get_by_name, "reader")
    assert org is not None and reader is not None
    app = await rt.db.write(
        applications.create,
        rt.secrets,
        org,
        name="ci-dashboard",
        application_uri="https://ci.example",
        actor=None,
    )
    granted = frozenset({scopes.REPO_READ, scopes.USER_READ})
    token = await rt.db.write(
        applications.grant_token, app, reader, granted, audit.Actor(reader.id, "reader")
    )
    app_headers = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/api/v1/user/", headers=app_headers)).status_code == 200

    r = await http.get("/api/v1/user/authorizations", headers=world.api["reader"])
    assert r.status_code == 200, r.text
    [found] = r.json()["authorizations"]
    assert (
        found["application"]["name"] == "ci-dashboard" and found["application"]["url"] == "https://ci.example"
    )
    assert found["application"]["organization"]["name"] == "acme"
    assert [s["scope"] for s in found["scopes"]] == ["repo:read", "user:read"]
    assert {"title", "description", "dangerous"} <= set(found["scopes"][0])
    one = await http.get(f"/api/v1/user/authorizations/{found['uuid']}", headers=world.api["reader"])
    assert one.status_code == 200 and one.json() == found

    # Another user neither sees nor revokes it.
    assert (await http.get("/api/v1/user/authorizations", headers=world.api["writer"])).json() == {
        "authorizations": []
    }
    assert (
        await http.get(f"/api/v1/user/authorizations/{found['uuid']}", headers=world.api["writer"])
    ).status_code == 404
    assert (
        await http.delete(f"/api/v1/user/authorizations/{found['uuid']}", headers=world.api["writer"])
    ).status_code == 404
    assert (await http.get("/api/v1/user/", headers=app_headers)).status_code == 200

    r = await http.delete(f"/api/v1/user/authorizations/{found['uuid']}", headers=world.api["reader"])
    assert r.status_code == 204
    assert (await http.get("/api/v1/user/", headers=app_headers)).status_code == 401
    assert (await http.get("/api/v1/user/authorizations", headers=world.api["reader"])).json() == {
        "authorizations": []
    }
    assert (
        await http.delete(f"/api/v1/user/authorizations/{found['uuid']}", headers=world.api["reader"])
    ).status_code == 404

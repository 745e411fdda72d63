"""Organization administration: members, collaborators, and what superusers do to organizations."""

from __future__ import annotations

from tests.integration.world import PW, World, api_token


async def test_member_details_and_removal(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.get("/api/v1/organization/acme/members/reader", headers=owner)
    assert r.status_code == 200
    assert r.json()["name"] == "reader" and [t["name"] for t in r.json()["teams"]] == ["readers"]
    assert (await http.get("/api/v1/organization/acme/members/outsider", headers=owner)).status_code == 404
    assert (
        await http.get("/api/v1/organization/acme/members/reader", headers=world.api["reader"])
    ).status_code == 403

    # "direct" holds a grant without being in a team: a collaborator
    r = await http.get("/api/v1/organization/acme/collaborators", headers=owner)
    assert [(c["name"], c["repositories"]) for c in r.json()["collaborators"]] == [("direct", 2)]

    # removing a member takes it out of every team and drops its grants in the organization
    assert (await http.delete("/api/v1/organization/acme/members/direct", headers=owner)).status_code == 204
    assert (await http.get("/api/v1/organization/acme/collaborators", headers=owner)).json() == {
        "collaborators": []
    }
    r = await http.get("/v2/auth", params={"scope": "repository:acme/app:pull"}, auth=("direct", PW))
    assert r.status_code == 200
    assert (await http.delete("/api/v1/organization/acme/members/reader", headers=owner)).status_code == 204
    members = (await http.get("/api/v1/organization/acme/members", headers=owner)).json()["members"]
    assert "reader" not in [m["name"] for m in members]
    assert (await http.delete("/api/v1/organization/acme/members/reader", headers=owner)).status_code == 404
    # the last owner cannot be removed
    r = await http.delete("/api/v1/organization/acme/members/owner", headers=owner)
    assert r.status_code == 400 and "last owner" in r.json()["detail"]


async def test_superuser_organizations(world: World) -> None:
    http, admin = world.reg.http, world.api["admin"]
    await http.post("/api/v1/organization/", json={"name": "beta"}, headers=world.api["outsider"])
    r = await http.get("/api/v1/superuser/organizations/", headers=admin)
    assert [o["name"] for o in r.json()["organizations"]] == ["acme", "beta", "library"]
    assert (await http.get("/api/v1/superuser/organizations/", headers=world.api["owner"])).status_code == 403
    r = await http.put("/api/v1/superuser/organizations/beta", json={"email": "b@example.com"}, headers=admin)
    assert r.status_code == 200 and r.json()["email"] == "b@example.com"
    assert (await http.delete("/api/v1/superuser/organizations/nope", headers=admin)).status_code == 404
    assert (await http.delete("/api/v1/superuser/organizations/beta", headers=admin)).status_code == 204
    assert (await http.get("/api/v1/organization/beta")).status_code == 404


async def test_take_ownership_of_an_organization(world: World) -> None:
    http, admin = world.reg.http, world.api["admin"]
    assert (
        await http.post("/api/v1/superuser/takeownership/acme", headers=world.api["owner"])
    ).status_code == 403
    r = await http.post("/api/v1/superuser/takeownership/acme", headers=admin)
    assert r.status_code == 200, r.text
    r = await http.get("/api/v1/organization/acme/team/owners/members", headers=world.api["owner"])
    assert [m["name"] for m in r.json()["members"]] == ["admin", "owner"]


async def test_take_ownership_converts_a_user_namespace(world: World) -> None:
    http, admin = world.reg.http, world.api["admin"]
    await world.reg.push_blob("outsider/tool", b"data", user="outsider", password=PW)
    r = await http.post("/api/v1/superuser/takeownership/outsider", headers=admin)
    assert r.status_code == 200, r.text
    # the former user cannot log in any more, its tokens are gone, and the namespace is an organization
    r = await http.get("/v2/auth", params={"scope": "repository:outsider/tool:pull"}, auth=("outsider", PW))
    assert r.status_code == 401
    assert (await http.get("/api/v1/user/", headers=world.api["outsider"])).status_code == 401
    r = await http.get("/api/v1/organization/outsider", headers=admin)
    assert r.status_code == 200 and r.json()["is_admin"] is True
    assert (await http.post("/api/v1/superuser/takeownership/admin", headers=admin)).status_code == 403
    assert (await http.post("/api/v1/superuser/takeownership/nobody", headers=admin)).status_code == 404


async def test_deleting_an_owner_deletes_its_robots(world: World) -> None:
    http = world.reg.http
    owner = world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/ci", headers=owner)).status_code == 201
    assert (await http.put("/api/v1/user/robots/mine", headers=world.api["outsider"])).status_code == 201
    assert (await http.delete("/api/v1/organization/acme", headers=owner)).status_code == 204
    assert (
        await http.delete("/api/v1/superuser/users/outsider", headers=world.api["admin"])
    ).status_code == 204
    # the names are free again
    await world.reg.create_user("outsider", PW)
    h = await api_token(world.reg, "outsider")
    assert (await http.put("/api/v1/user/robots/mine", headers=h)).status_code == 201
    assert (await http.post("/api/v1/organization/", json={"name": "acme"}, headers=owner)).status_code == 201
    assert (await http.put("/api/v1/organization/acme/robots/ci", headers=owner)).status_code == 201

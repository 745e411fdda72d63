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


async def test_namespace_time_machine_window(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.get("/api/v1/organization/acme", headers=owner)).json()[
        "tag_expiration_s"
    ] == 1_209_600
    r = await http.put("/api/v1/organization/acme", json={"tag_expiration_s": 86400}, headers=owner)
    assert r.status_code == 200 and r.json()["tag_expiration_s"] == 86400
    r = await http.put("/api/v1/organization/acme", json={"tag_expiration_s": 12345}, headers=owner)
    assert r.status_code == 400 and "TAG_EXPIRATION_OPTIONS" in r.json()["detail"]
    r = await http.put("/api/v1/organization/acme", json={"tag_expiration_s": 0}, headers=world.api["reader"])
    assert r.status_code == 403
    r = await http.put(
        "/api/v1/superuser/organizations/acme", json={"tag_expiration_s": 0}, headers=world.api["admin"]
    )
    assert r.json()["tag_expiration_s"] == 0
    r = await http.put("/api/v1/user/", json={"tag_expiration_s": 604800}, headers=world.api["reader"])
    assert r.status_code == 200 and r.json()["tag_expiration_s"] == 604800
    assert (await http.put("/api/v1/user/", json={"tag_expiration_s": -1}, headers=owner)).status_code == 400


async def test_signed_in_user_lists_their_organizations(world: World) -> None:
    http = world.reg.http
    orgs = (await http.get("/api/v1/user/", headers=world.api["owner"])).json()["organizations"]
    assert [(o["name"], o["is_org_admin"], o["can_create_repo"]) for o in orgs] == [("acme", True, True)]
    orgs = (await http.get("/api/v1/user/", headers=world.api["maker"])).json()["organizations"]
    assert [(o["name"], o["is_org_admin"], o["can_create_repo"]) for o in orgs] == [("acme", False, True)]
    assert (await http.get("/api/v1/user/", headers=world.api["outsider"])).json()["organizations"] == []


async def test_robot_list_with_permissions(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/ci", headers=owner)).status_code == 201
    await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+ci", json={"role": "read"}, headers=owner
    )
    await http.put("/api/v1/organization/acme/team/readers/members/acme+ci", headers=owner)
    r = await http.get(
        "/api/v1/organization/acme/robots", params={"permissions": "true", "token": "false"}, headers=owner
    )
    (robot,) = r.json()["robots"]
    assert robot["repositories"] == ["acme/app"] and [t["name"] for t in robot["teams"]] == ["readers"]
    assert "token" not in robot
    r = await http.get("/api/v1/organization/acme/robots", headers=owner)
    assert "repositories" not in r.json()["robots"][0] and "token" in r.json()["robots"][0]


async def test_team_names_follow_quays_pattern(world: World) -> None:
    """Quay's VALID_TEAMNAME_REGEX: digits first, and `.`, `_`, `-` between parts, are fine."""
    http, owner = world.reg.http, world.api["owner"]
    for name in ("team-1.x", "1st", "ops_eu-west.2"):
        r = await http.put(f"/api/v1/organization/acme/team/{name}", json={"role": "member"}, headers=owner)
        assert r.status_code == 200, (name, r.text)
        assert r.json()["name"] == name
    for name in ("Ops", "a", "-ops", "ops-", "ops..x", "ops+x"):
        r = await http.put(f"/api/v1/organization/acme/team/{name}", json={"role": "member"}, headers=owner)
        assert r.status_code == 400, (name, r.text)
    r = await http.put("/api/v1/organization/acme/team/ops..x", json={"role": "member"}, headers=owner)
    assert r.json()["detail"].startswith("Invalid team name ops..x: Namespace must match expression ")

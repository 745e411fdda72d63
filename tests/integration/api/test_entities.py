"""getMatchingEntities (/api/v1/entities/{prefix}), the permission dialogs' autocomplete: Quay's
result fields, robots and teams only for members of the organization, nobody anonymous."""

from __future__ import annotations

from typing import Any

from tests.integration.world import World


async def _search(world: World, who: str, prefix: str, **params: str) -> list[dict[str, Any]]:
    r = await world.reg.http.get(f"/api/v1/entities/{prefix}", params=params, headers=world.api[who])
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


async def test_users_by_prefix_with_quays_fields(world: World) -> None:
    found = await _search(world, "owner", "Re")  # folded to lowercase, as Quay does
    assert [e["name"] for e in found] == ["reader"]
    assert set(found[0]) == {"name", "kind", "is_robot", "avatar"}
    assert found[0]["kind"] == "user" and found[0]["is_robot"] is False
    # disabled users are not offered; a prefix no name can have matches nothing
    assert [e["name"] for e in await _search(world, "owner", "dis")] == []
    assert await _search(world, "owner", "a%") == [] and await _search(world, "owner", "o_") == []
    assert [e["name"] for e in await _search(world, "owner", "o")] == ["outsider", "owner"]
    assert (await world.reg.http.get("/api/v1/entities/re")).status_code == 401


async def test_in_an_organization_teams_robots_and_membership(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/reaper", headers=owner)).status_code in (
        200,
        201,
    )
    found = await _search(world, "owner", "re", namespace="acme", includeTeams="true", includeOrgs="true")
    by_name = {e["name"]: e for e in found}
    assert by_name["readers"] == {**by_name["readers"], "kind": "team", "is_org_member": True}
    assert by_name["reader"]["is_org_member"] is True and by_name["reader"]["kind"] == "user"
    assert by_name["acme+reaper"]["is_robot"] is True and by_name["acme+reaper"]["is_org_member"] is True
    assert found[0]["name"] == "readers"  # teams first, as Quay lists them
    outsider = await _search(world, "owner", "out", namespace="acme")
    assert outsider[0]["name"] == "outsider" and outsider[0]["is_org_member"] is False
    assert [e["name"] for e in await _search(world, "owner", "acme+", namespace="acme")] == ["acme+reaper"]
    orgs = await _search(world, "owner", "ac", namespace="acme", includeOrgs="true")
    assert [(e["name"], e["kind"]) for e in orgs] == [("acme", "org")]

    # Someone outside the organization sees neither its teams nor its robots.
    seen = await _search(world, "outsider", "re", namespace="acme", includeTeams="true", includeOrgs="true")
    assert [e["name"] for e in seen] == ["reader"]
    # A member who does not administer it: teams and robots, not the organization.
    member = await _search(world, "reader", "rea", namespace="acme", includeTeams="true", includeOrgs="true")
    assert [e["name"] for e in member] == ["readers", "acme+reaper", "reader"]
    assert await _search(world, "reader", "ac", namespace="acme", includeOrgs="true") == []

"""convertUserToOrganization (POST /api/v1/user/convert): the user's namespace becomes an
organization owned by the admin user who proved their password; the old account's credentials
all end; mistakes are refused and change nothing."""

from __future__ import annotations

from tests.integration.world import PW, World, api_token
from wharf.core import accounts, repositories


async def test_convert_a_user_into_an_organization(world: World) -> None:
    reg, http = world.reg, world.reg.http
    await reg.create_user("solo", "solo-password")
    await reg.push_blob("solo/app", b"layer", user="solo", password="solo-password")
    solo = await api_token(reg, "solo")

    bad = await http.post(
        "/api/v1/user/convert", json={"adminUser": "owner", "adminPassword": "wrong"}, headers=solo
    )
    assert bad.status_code == 400 and "credentials are not valid" in bad.json()["detail"]
    itself = await http.post(
        "/api/v1/user/convert", json={"adminUser": "solo", "adminPassword": "solo-password"}, headers=solo
    )
    assert itself.status_code == 400 and "admin user is not valid" in itself.json()["detail"]
    # A user in some organization's team must leave it first.
    member = await http.post(
        "/api/v1/user/convert", json={"adminUser": "owner", "adminPassword": PW}, headers=world.api["reader"]
    )
    assert member.status_code == 400 and "leave every organization" in member.json()["detail"]

    r = await http.post(
        "/api/v1/user/convert", json={"adminUser": "owner", "adminPassword": PW, "plan": "free"}, headers=solo
    )
    assert r.status_code == 200 and r.json() == {"success": True}
    account = await reg.wharf.rt.db.read(accounts.get_by_name, "solo")
    assert account is not None and account.kind == "org"
    assert await reg.wharf.rt.db.read(repositories.get, "solo", "app") is not None
    # The old credentials are over; the admin owns the organization.
    assert (await http.get("/api/v1/user/", headers=solo)).status_code == 401
    assert (
        await http.get("/v2/auth", params={"service": "registry.test"}, auth=("solo", "solo-password"))
    ).status_code == 401
    r = await http.get("/api/v1/organization/solo/team/owners/members", headers=world.api["owner"])
    assert r.status_code == 200 and [m["name"] for m in r.json()["members"]] == ["owner"]

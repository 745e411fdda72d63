"""Default permissions: roles granted automatically when repositories are created in an organization."""

from __future__ import annotations

from tests.integration.registry_client import RegistryClient
from tests.integration.world import accept_invitations, api_token
from wharf.core import accounts, scopes, tokens

PW = "prototype-pw"


async def _api(reg: RegistryClient, user: str) -> dict[str, str]:
    account = await reg.wharf.rt.db.read(accounts.get_by_name, user)
    assert account is not None
    return {"Authorization": f"Bearer {await reg.wharf.rt.db.write(tokens.mint, account, scopes.ALL)}"}


async def test_default_permissions_apply_on_push(reg: RegistryClient) -> None:
    for user in ("boss", "dev", "auditor"):
        await reg.create_user(user, PW)
    boss = await _api(reg, "boss")
    http = reg.http
    assert (await http.post("/api/v1/organization/", json={"name": "shop"}, headers=boss)).status_code == 201
    await http.put("/api/v1/organization/shop/team/devs", json={"role": "creator"}, headers=boss)
    invited = await http.put("/api/v1/organization/shop/team/devs/members/dev", headers=boss)
    assert invited.json()["invited"]  # dev is in no team of shop yet: dev accepts
    await accept_invitations(reg, "dev", await api_token(reg, "dev"))
    await http.put("/api/v1/organization/shop/team/readers", json={"role": "member"}, headers=boss)
    everyone = await http.post(
        "/api/v1/organization/shop/prototypes",
        json={"role": "read", "delegate": {"kind": "team", "name": "readers"}},
        headers=boss,
    )
    assert everyone.status_code == 200, everyone.text
    assert everyone.json()["delegate"] == {
        "name": "readers",
        "kind": "team",
        "is_robot": False,
        "avatar": everyone.json()["delegate"]["avatar"],
    }
    only_dev = await http.post(
        "/api/v1/organization/shop/prototypes",
        json={
            "role": "write",
            "delegate": {"kind": "user", "name": "auditor"},
            "activating_user": {"name": "dev"},
        },
        headers=boss,
    )
    assert only_dev.status_code == 200, only_dev.text
    listed = (await http.get("/api/v1/organization/shop/prototypes", headers=boss)).json()["prototypes"]
    assert len(listed) == 2

    await reg.push_blob("shop/by-dev", b"x", user="dev", password=PW)
    await reg.push_blob("shop/by-boss", b"x", user="boss", password=PW)
    by_dev = (await http.get("/api/v1/repository/shop/by-dev/permissions/user/", headers=boss)).json()[
        "permissions"
    ]
    assert by_dev["auditor"]["role"] == "write"
    assert by_dev["dev"]["role"] == "admin"  # creators administer what they create
    teams = (await http.get("/api/v1/repository/shop/by-dev/permissions/team/", headers=boss)).json()[
        "permissions"
    ]
    assert teams["readers"]["role"] == "read"
    by_boss = (await http.get("/api/v1/repository/shop/by-boss/permissions/user/", headers=boss)).json()
    assert "auditor" not in by_boss["permissions"]  # only when dev creates

    pid = only_dev.json()["id"]
    r = await http.put(f"/api/v1/organization/shop/prototypes/{pid}", json={"role": "admin"}, headers=boss)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert (await http.delete(f"/api/v1/organization/shop/prototypes/{pid}", headers=boss)).status_code == 204
    assert (await http.delete(f"/api/v1/organization/shop/prototypes/{pid}", headers=boss)).status_code == 404


async def test_prototype_validation(reg: RegistryClient) -> None:
    await reg.create_user("chief", PW)
    h = await _api(reg, "chief")
    await reg.http.post("/api/v1/organization/", json={"name": "firm"}, headers=h)
    bad = [
        {"role": "owner", "delegate": {"kind": "user", "name": "chief"}},
        {"role": "read", "delegate": {"kind": "team", "name": "ghosts"}},
        {"role": "read", "delegate": {"kind": "user", "name": "ghost"}},
        {"role": "read", "delegate": {"kind": "planet", "name": "x"}},
        {"role": "read"},
    ]
    for body in bad:
        r = await reg.http.post("/api/v1/organization/firm/prototypes", json=body, headers=h)
        assert r.status_code in (400, 404), body
    await reg.create_user("stranger", PW)
    r = await reg.http.get("/api/v1/organization/firm/prototypes", headers=await _api(reg, "stranger"))
    assert r.status_code == 403

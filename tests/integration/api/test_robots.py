"""Robot accounts: created through the API, logging in to the registry with their token."""

from __future__ import annotations

import httpx
import jwt

from tests.integration.registry_client import RegistryClient
from wharf.app import build_app
from wharf.config import Settings
from wharf.core import accounts, robots, scopes, tokens


async def _api(reg: RegistryClient, user: str) -> dict[str, str]:
    account = await reg.wharf.rt.db.read(accounts.get_by_name, user)
    assert account is not None
    return {"Authorization": f"Bearer {await reg.wharf.rt.db.write(tokens.mint, account, scopes.ALL)}"}


async def _actions(http: httpx.AsyncClient, name: str, token: str, repo: str) -> list[str] | None:
    r = await http.get("/v2/auth", params={"scope": f"repository:{repo}:pull,push"}, auth=(name, token))
    if r.status_code != 200:
        return None
    return sorted(jwt.decode(r.json()["token"], options={"verify_signature": False})["access"][0]["actions"])


async def test_user_robot_lifecycle(reg: RegistryClient) -> None:
    await reg.create_user("ursula", "ursula-password")
    h = await _api(reg, "ursula")
    r = await reg.http.put("/api/v1/user/robots/ci", json={"description": "CI pushes"}, headers=h)
    assert r.status_code == 201, r.text
    robot = r.json()
    assert robot["name"] == "ursula+ci" and robot["description"] == "CI pushes"
    token = robot["token"]
    assert len(token) == 64
    # a robot has no role anywhere until it is given one
    await reg.push_blob("ursula/app", b"x", user="ursula", password="ursula-password")
    assert await _actions(reg.http, "ursula+ci", token, "ursula/app") == []
    r = await reg.http.put(
        "/api/v1/repository/ursula/app/permissions/user/ursula+ci", json={"role": "write"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert await _actions(reg.http, "ursula+ci", token, "ursula/app") == ["pull", "push"]
    assert await _actions(reg.http, "ursula+ci", "wrong" * 8, "ursula/app") is None
    # the token is shown again on request, and listed
    assert (await reg.http.get("/api/v1/user/robots/ci", headers=h)).json()["token"] == token
    assert [x["name"] for x in (await reg.http.get("/api/v1/user/robots", headers=h)).json()["robots"]] == [
        "ursula+ci"
    ]
    # regenerating stops the old token at once
    new = (await reg.http.post("/api/v1/user/robots/ci/regenerate", headers=h)).json()["token"]
    assert new != token
    assert await _actions(reg.http, "ursula+ci", token, "ursula/app") is None
    assert await _actions(reg.http, "ursula+ci", new, "ursula/app") == ["pull", "push"]
    assert (await reg.http.delete("/api/v1/user/robots/ci", headers=h)).status_code == 204
    assert await _actions(reg.http, "ursula+ci", new, "ursula/app") is None
    assert (await reg.http.get("/api/v1/user/robots/ci", headers=h)).status_code == 404


async def test_last_accessed_is_the_last_login_to_a_minute(reg: RegistryClient) -> None:
    await reg.create_user("lena", "lena-password")
    h = await _api(reg, "lena")
    token = (await reg.http.put("/api/v1/user/robots/ci", headers=h)).json()["token"]
    assert (await reg.http.get("/api/v1/user/robots/ci", headers=h)).json()["last_accessed"] is None
    assert await _actions(reg.http, "lena+ci", "wrong" * 8, "lena/app") is None  # a failed login is none
    assert (await reg.http.get("/api/v1/user/robots/ci", headers=h)).json()["last_accessed"] is None
    assert await _actions(reg.http, "lena+ci", token, "lena/app") == []
    robot = await reg.wharf.rt.db.read(robots.get_by_name, "lena+ci")
    assert robot is not None and robot.last_accessed_ms is not None
    first = robot.last_accessed_ms
    listed = (await reg.http.get("/api/v1/user/robots", headers=h)).json()["robots"]
    assert listed[0]["last_accessed"] is not None
    # logins within the minute write nothing; one after it moves the time
    await _actions(reg.http, "lena+ci", token, "lena/app")
    assert (await reg.wharf.rt.db.read(robots.get_by_name, "lena+ci")).last_accessed_ms == first  # type: ignore[union-attr]
    await reg.wharf.rt.db.write(robots.mark_accessed, robot.account.id, first + robots.ACCESS_RESOLUTION_MS)
    after = await reg.wharf.rt.db.read(robots.get_by_name, "lena+ci")
    assert after is not None and after.last_accessed_ms == first + robots.ACCESS_RESOLUTION_MS


async def test_robot_token_is_stored_encrypted(reg: RegistryClient) -> None:
    h = await _api(reg, "admin")
    token = (await reg.http.put("/api/v1/user/robots/vault", headers=h)).json()["token"]
    db_file = reg.wharf.rt.settings.DATA_DIR / "wharf.db"
    if db_file.exists():
        assert token.encode() not in db_file.read_bytes()


async def test_org_robot_in_a_team(reg: RegistryClient) -> None:
    await reg.create_user("olga", "olga-password")
    h = await _api(reg, "olga")
    assert (await reg.http.post("/api/v1/organization/", json={"name": "corp"}, headers=h)).status_code == 201
    token = (await reg.http.put("/api/v1/organization/corp/robots/deployer", headers=h)).json()["token"]
    await reg.http.put("/api/v1/organization/corp/team/builders", json={"role": "creator"}, headers=h)
    r = await reg.http.put("/api/v1/organization/corp/team/builders/members/corp+deployer", headers=h)
    assert r.status_code == 200 and r.json()["is_robot"] is True
    # a robot in a creator team may create repositories by pushing, and becomes their admin
    assert await _actions(reg.http, "corp+deployer", token, "corp/service") == ["pull", "push"]
    await reg.push_blob("corp/service", b"x", user="corp+deployer", password=token)
    listed = (await reg.http.get("/api/v1/repository/corp/service/permissions/user/", headers=h)).json()
    assert listed["permissions"]["corp+deployer"]["role"] == "admin"
    assert listed["permissions"]["corp+deployer"]["is_robot"] is True
    # another user cannot see or manage the organization's robots
    await reg.create_user("mallory", "mallory-password")
    r = await reg.http.get("/api/v1/organization/corp/robots", headers=await _api(reg, "mallory"))
    assert r.status_code == 403


async def test_bad_robot_names(reg: RegistryClient) -> None:
    h = await _api(reg, "admin")
    for short in ("A", "1abc", "has-dash", "x" * 300):
        r = await reg.http.put(f"/api/v1/user/robots/{short}", headers=h)
        assert r.status_code == 400, short
    assert (await reg.http.put("/api/v1/user/robots/dup", headers=h)).status_code == 201
    assert (await reg.http.put("/api/v1/user/robots/dup", headers=h)).status_code == 400


async def test_robots_disallowed(reg: RegistryClient, settings: Settings) -> None:
    h = await _api(reg, "admin")
    token = (await reg.http.put("/api/v1/user/robots/old", headers=h)).json()["token"]
    await reg.http.put("/api/v1/user/robots/kept", headers=h)
    kept = (await reg.http.get("/api/v1/user/robots/kept", headers=h)).json()["token"]
    locked = build_app(
        settings.model_copy(update={"ROBOTS_DISALLOW": True, "ROBOTS_WHITELIST": ["admin+kept"]}),
        run_workers=False,
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=locked), base_url="http://registry.test"
        ) as c:
            assert await _actions(c, "admin+old", token, "admin/x") is None
            assert await _actions(c, "admin+kept", kept, "admin/x") == []
            r = await c.put("/api/v1/user/robots/new", headers=h)
            assert r.status_code == 400
    finally:
        await locked.rt.close()


async def test_robots_hold_roles_only_in_their_own_namespace(reg: RegistryClient) -> None:
    """Quay refuses a robot of another namespace ("Cannot add robot ... under namespace ..."): the
    robot's owner could otherwise use a role that the repository's admins gave to a stranger."""
    for user in ("vera", "eve"):
        await reg.create_user(user, f"{user}-password")
    vera, eve = await _api(reg, "vera"), await _api(reg, "eve")
    r = await reg.http.post("/api/v1/organization/", json={"name": "vorg"}, headers=vera)
    assert r.status_code == 201
    await reg.http.put("/api/v1/user/robots/spy", headers=eve)
    await reg.http.put("/api/v1/organization/vorg/robots/ci", headers=vera)
    await reg.push_blob("vorg/app", b"x", user="vera", password="vera-password")
    r = await reg.http.put(
        "/api/v1/repository/vorg/app/permissions/user/eve+spy", json={"role": "read"}, headers=vera
    )
    assert r.status_code == 400, r.text
    assert "Cannot add robot eve+spy under namespace vorg" in r.text
    r = await reg.http.put(
        "/api/v1/repository/vorg/app/permissions/user/vorg+ci", json={"role": "read"}, headers=vera
    )
    assert r.status_code == 200, r.text
    # default permissions: refused when made, so nothing is granted when a repository is created
    r = await reg.http.post(
        "/api/v1/organization/vorg/prototypes",
        json={"role": "write", "delegate": {"kind": "user", "name": "eve+spy"}},
        headers=vera,
    )
    assert r.status_code == 400 and "Cannot add robot eve+spy under namespace vorg" in r.text
    r = await reg.http.post(
        "/api/v1/organization/vorg/prototypes",
        json={"role": "write", "delegate": {"kind": "user", "name": "vorg+ci"}},
        headers=vera,
    )
    assert r.status_code == 200, r.text
    # a user's robot in another user's namespace too
    await reg.push_blob("vera/own", b"x", user="vera", password="vera-password")
    r = await reg.http.put(
        "/api/v1/repository/vera/own/permissions/user/vorg+ci", json={"role": "read"}, headers=vera
    )
    assert r.status_code == 400 and "Cannot add robot vorg+ci under namespace vera" in r.text
    listed = (await reg.http.get("/api/v1/repository/vorg/app/permissions/user/", headers=vera)).json()
    assert "eve+spy" not in listed["permissions"]


async def test_creating_an_existing_robot_says_so_in_quays_words(reg: RegistryClient) -> None:
    await reg.create_user("tina", "pw-" + "x" * 8)
    h = await _api(reg, "tina")
    assert (await reg.http.put("/api/v1/user/robots/dtrobot", headers=h)).status_code == 201
    r = await reg.http.put("/api/v1/user/robots/dtrobot", headers=h)
    assert r.status_code == 400
    assert r.json()["error_message"] == "Existing robot with name: tina+dtrobot"

"""A registry token is only a registry token: never a password or robot secret anywhere, whatever
the Host header of the request that minted it said."""

from __future__ import annotations

import httpx
import jwt
from sqlalchemy import delete

from tests.conftest import TEST_HOSTNAME
from tests.integration.web_client import Visitor
from tests.integration.world import World
from wharf.auth.tokens import ROBOT_AUDIENCE
from wharf.db.models import LoginThrottle

ROBOT = "acme+deployer"


async def _robot(world: World) -> str:
    """acme+deployer with write on acme/app; its token."""
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put("/api/v1/organization/acme/robots/deployer", headers=owner)
    assert r.status_code == 201, r.text
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+deployer", json={"role": "write"}, headers=owner
    )
    assert r.status_code == 200, r.text
    r = await http.get("/api/v1/organization/acme/robots/deployer", headers=owner)
    return str(r.json()["token"])


async def _registry_token(
    http: httpx.AsyncClient, user: str, password: str, host: str | None = None
) -> str | None:
    headers = {"Host": host} if host else {}
    r = await http.get(
        "/v2/auth", params={"scope": "repository:acme/app:pull,push"}, auth=(user, password), headers=headers
    )
    return str(r.json()["token"]) if r.status_code == 200 else None


async def _password_works_anywhere(world: World, password: str) -> list[str]:
    """Where `password` is accepted as the robot's password: the entry points that take Basic."""
    http = world.reg.http
    # failures slow down later attempts; each answer here must be about the password alone
    await world.reg.wharf.rt.db.write(lambda db: db.execute(delete(LoginThrottle)))
    accepted = []
    if await _registry_token(http, ROBOT, password) is not None:
        accepted.append("/v2/auth")
    r = await http.get("/c1/squash/acme/app/latest", auth=(ROBOT, password))
    if r.status_code != 401:
        accepted.append("/c1/squash")
    r = await http.get("/oauth2/federation/robot/token", auth=(ROBOT, password))
    if r.status_code == 200:
        accepted.append("federation exchange")
    v = Visitor(world.reg.wharf)
    try:
        form = await v.form("/signin", "/signin")
        r = await v.http.post("/signin", data={**form.fields, "username": ROBOT, "password": password})
        if r.status_code == 303:
            accepted.append("web sign-in")
    finally:
        await v.close()
    return accepted


async def test_a_registry_token_minted_for_a_crafted_host_is_no_robot_password(world: World) -> None:
    http = world.reg.http
    secret = await _robot(world)
    assert await _password_works_anywhere(world, secret) == ["/v2/auth", "/c1/squash"]
    # The attack: ask for a registry token while claiming to be the host named like the audience
    # of federation robot tokens, then present it as the robot's password.
    stolen = await _registry_token(http, ROBOT, secret, host=ROBOT_AUDIENCE)
    assert stolen is not None
    assert await _password_works_anywhere(world, stolen) == []
    assert jwt.decode(stolen, options={"verify_signature": False})["aud"] != ROBOT_AUDIENCE
    # ...nor after the robot's token is regenerated, nor as a way to renew itself
    r = await http.post("/api/v1/organization/acme/robots/deployer/regenerate", headers=world.api["owner"])
    assert r.status_code == 200, r.text
    assert await _password_works_anywhere(world, stolen) == []
    assert await _password_works_anywhere(world, secret) == []
    # a registry token minted through any Host is never a password, for a user either
    own = await _registry_token(http, "owner", "matrix-password", host="evil.test")
    assert own is not None
    r = await http.get("/v2/auth", params={"scope": "repository:acme/app:pull"}, auth=(ROBOT, own))
    assert r.status_code == 401
    r = await http.get("/v2/auth", params={"scope": "repository:acme/app:pull"}, auth=("owner", own))
    assert r.status_code == 401


async def test_the_registry_audience_never_comes_from_the_host_header(world: World) -> None:
    http = world.reg.http
    token = await _registry_token(http, "owner", "matrix-password", host="evil.test")
    assert token is not None
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == TEST_HOSTNAME  # SERVER_HOSTNAME, not the Host the request named
    # the token works whatever Host the next request names
    for host in ("registry.test", "evil.test", ROBOT_AUDIENCE):
        r = await http.get(
            "/v2/acme/app/tags/list", headers={"Authorization": f"Bearer {token}", "Host": host}
        )
        assert r.status_code == 200, (host, r.text)

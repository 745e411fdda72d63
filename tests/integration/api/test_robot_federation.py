"""Keyless robots: an OIDC identity the robot trusts logs in as the robot, through a real issuer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.integration.world import World
from tests.oidc_issuer import Issuer, running_issuer
from wharf.config import Settings, load_settings

ROBOT = "acme+deployer"
SUBJECT = "repo:acme/app:ref:refs/heads/main"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    # The test issuer listens on loopback, which outbound calls refuse unless allowed.
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"]}
    return load_settings(None, overrides, environ={})


async def _granted(http: httpx.AsyncClient, password: str, name: str = ROBOT) -> list[str] | None:
    r = await http.get("/v2/auth", params={"scope": "repository:acme/app:pull,push"}, auth=(name, password))
    if r.status_code != 200:
        return None
    return sorted(jwt.decode(r.json()["token"], options={"verify_signature": False})["access"][0]["actions"])


async def _federated_robot(world: World, issuer: Issuer) -> None:
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/deployer", headers=owner)).status_code == 201
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+deployer", json={"role": "write"}, headers=owner
    )
    assert r.status_code == 200, r.text
    r = await http.post(
        "/api/v1/organization/acme/robots/deployer/federation",
        json=[{"issuer": issuer.url, "subject": SUBJECT}],
        headers=owner,
    )
    assert r.status_code == 200, r.text
    assert r.json() == [{"issuer": issuer.url, "subject": SUBJECT}]


async def test_exchange_an_oidc_token_for_a_robot_token(world: World, issuer: Issuer) -> None:
    http = world.reg.http
    await _federated_robot(world, issuer)
    r = await http.get("/api/v1/organization/acme/robots/deployer/federation", headers=world.api["owner"])
    assert r.json() == [{"issuer": issuer.url, "subject": SUBJECT}]
    assert (
        await http.get("/api/v1/organization/acme/robots/deployer/federation", headers=world.api["reader"])
    ).status_code == 403

    r = await http.get("/oauth2/federation/robot/token", auth=(ROBOT, issuer.token(SUBJECT)))
    assert r.status_code == 200, r.text
    robot_token = r.json()["token"]
    assert r.json()["expires_in"] == 3600
    # the robot token logs in like a password (podman login), with the robot's permissions
    assert await _granted(http, robot_token) == ["pull", "push"]
    # ...only as this robot, and never as a registry bearer token
    assert await _granted(http, robot_token, name="acme+other") is None
    r = await http.get("/v2/", headers={"Authorization": f"Bearer {robot_token}"})
    assert r.status_code == 401
    # the OIDC token itself is accepted as the robot's password as well
    assert await _granted(http, issuer.token(SUBJECT)) == ["pull", "push"]
    assert issuer.requests.count("/jwks") == 1  # the issuer's keys are cached


async def test_untrusted_tokens_are_refused(world: World, issuer: Issuer) -> None:
    http = world.reg.http
    await _federated_robot(world, issuer)

    async def exchange(password: str, name: str = ROBOT) -> int:
        return (await http.get("/oauth2/federation/robot/token", auth=(name, password))).status_code

    assert await exchange(issuer.token("repo:acme/app:ref:refs/heads/evil")) == 401  # other subject
    assert await exchange(issuer.token(SUBJECT, lifetime_s=-120)) == 401  # expired
    with running_issuer() as impostor:  # same claims, signed by another issuer's key
        assert await exchange(impostor.token(SUBJECT, issuer=issuer.url)) == 401
    # throttling: at most 3 failures per name before delays; clear them for the next checks
    from sqlalchemy import delete

    from wharf.db.models import LoginThrottle

    await world.reg.wharf.rt.db.write(lambda db: db.execute(delete(LoginThrottle)))
    assert await exchange(issuer.token(SUBJECT), name="acme+nobody") == 401
    assert await exchange("not-a-jwt") == 401  # the robot's real token is no OIDC token
    r = await http.get("/oauth2/federation/robot/token")
    assert r.status_code == 401 and r.json()["error_type"] == "invalid_token"

    # without federation, the token is worthless
    await world.reg.wharf.rt.db.write(lambda db: db.execute(delete(LoginThrottle)))
    r = await http.delete("/api/v1/organization/acme/robots/deployer/federation", headers=world.api["owner"])
    assert r.status_code == 204
    assert await exchange(issuer.token(SUBJECT)) == 401


async def test_federation_input_is_checked(world: World, issuer: Issuer) -> None:
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/deployer", headers=owner)).status_code == 201
    url = "/api/v1/organization/acme/robots/deployer/federation"
    # Quay's messages, which its tests and scripts match on
    for body, says in (
        ([{"issuer": "ftp://x", "subject": "s"}], "Issuer must be a URL (http:// or https://)"),
        ([{"issuer": "issuer1", "subject": "s"}], "Issuer must be a URL"),
        ([{"issuer": issuer.url}], "Missing one or more required fields"),
        ([{"issuer": issuer.url, "subject": "s"}, {}], "Missing one or more required fields"),
        ([{"bad_key": issuer.url, "subject": "s"}], "Missing one or more required fields"),
        ([{"issuer": issuer.url, "subject": "s"}] * 2, "Duplicate federation config entry"),
    ):
        r = await http.post(url, json=body, headers=owner)
        assert r.status_code == 400 and says in r.json()["error_message"], (body, r.text)
    assert (await http.post(url, json={"issuer": issuer.url}, headers=owner)).status_code == 400
    r = await http.post("/api/v1/organization/acme/robots/nobody/federation", json=[], headers=owner)
    assert r.status_code == 404
    # a user's own robot has the same endpoints
    me = world.api["outsider"]
    assert (await http.put("/api/v1/user/robots/ci", headers=me)).status_code == 201
    r = await http.post(
        "/api/v1/user/robots/ci/federation", json=[{"issuer": issuer.url, "subject": "x"}], headers=me
    )
    assert r.status_code == 200
    assert (await http.delete("/api/v1/user/robots/ci/federation", headers=me)).status_code == 204
    assert (await http.get("/api/v1/user/robots/ci/federation", headers=me)).json() == []


async def test_a_robot_token_ends_with_the_robots_credentials(world: World, issuer: Issuer) -> None:
    """The exchanged token is bound to the robot as it was: regenerating the robot's token, or
    deleting the robot (even if one of the same name is made again), ends it."""
    http, owner = world.reg.http, world.api["owner"]
    await _federated_robot(world, issuer)

    async def exchanged() -> str:
        r = await http.get("/oauth2/federation/robot/token", auth=(ROBOT, issuer.token(SUBJECT)))
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    robot_token = await exchanged()
    assert await _granted(http, robot_token) == ["pull", "push"]
    # it cannot be traded for another one: it is not an OIDC token
    assert (await http.get("/oauth2/federation/robot/token", auth=(ROBOT, robot_token))).status_code == 401
    r = await http.post("/api/v1/organization/acme/robots/deployer/regenerate", headers=owner)
    assert r.status_code == 200, r.text
    assert await _granted(http, robot_token) is None

    robot_token = await exchanged()
    assert await _granted(http, robot_token) == ["pull", "push"]
    assert (await http.delete("/api/v1/organization/acme/robots/deployer", headers=owner)).status_code == 204
    await _federated_robot(world, issuer)  # the same name again, with the same trust and role
    assert await _granted(http, robot_token) is None
    assert await _granted(http, await exchanged()) == ["pull", "push"]

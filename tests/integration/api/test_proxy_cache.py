"""/api/v1/organization/{org}/proxycache and validateproxycache: Quay's four operations, who may
call them, and what they refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.distribution import Distribution, require_distribution
from tests.integration.world import World
from wharf.app import WharfApp, build_app
from wharf.config import Settings
from wharf.core import proxy_cache


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"FEATURE_PROXY_CACHE": True, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]})


@pytest.fixture
def locked_upstream(tmp_path: Path) -> Iterator[Distribution]:
    require_distribution()
    server = Distribution(tmp_path / "locked", user="mirror", password="upstream-secret")
    server.start()
    yield server
    server.stop()


URL = "/api/v1/organization/acme/proxycache"


async def test_an_admin_makes_the_organization_a_proxy_cache_and_members_read_it(world: World) -> None:
    http = world.reg.http
    owner = world.api["owner"]
    r = await http.get(URL, headers=owner)
    assert r.status_code == 200
    assert r.json() == {"upstream_registry": "", "expiration_s": "", "insecure": ""}

    body = {
        "upstream_registry": "Quay.io/projectquay",
        "upstream_registry_username": "puller",
        "upstream_registry_password": "s3cret-password",
        "expiration_s": 7200,
    }
    r = await http.post(URL, json=body, headers=owner)
    assert r.status_code == 201, r.text
    assert r.json() == "Created"
    for user in ("owner", "reader"):
        r = await http.get(URL, headers=world.api[user])
        assert r.status_code == 200
        assert r.json() == {
            "upstream_registry": "quay.io/projectquay",
            "expiration_s": 7200,
            "insecure": False,
        }

    # The credentials are stored sealed, and open again with the secret box.
    rt = world.reg.wharf.rt
    org = await rt.db.read(proxy_cache.for_namespace, "acme")
    assert org is not None
    assert org.password_sealed is not None and "s3cret" not in org.password_sealed
    assert org.credentials(rt.secrets) == ("puller", "s3cret-password")

    r = await http.post(URL, json=body, headers=owner)
    assert r.status_code == 400
    assert "already exists" in r.json()["detail"]

    r = await http.delete(URL, headers=owner)
    assert r.status_code == 201
    assert (await http.get(URL, headers=owner)).json()["upstream_registry"] == ""
    assert (await http.delete(URL, headers=owner)).status_code == 404

    r = await http.get("/api/v1/organization/acme/logs", headers=owner)
    kinds = [e["kind"] for e in r.json()["logs"]]
    assert "create_proxy_cache_config" in kinds and "delete_proxy_cache_config" in kinds


async def test_only_admins_change_it_and_only_members_read_it(world: World) -> None:
    http = world.reg.http
    body = {"upstream_registry": "quay.io"}
    for user in ("reader", "writer", "outsider"):
        assert (await http.post(URL, json=body, headers=world.api[user])).status_code == 403
        assert (await http.delete(URL, headers=world.api[user])).status_code == 403
        r = await http.post(
            "/api/v1/organization/acme/validateproxycache", json=body, headers=world.api[user]
        )
        assert r.status_code == 403
    assert (await http.get(URL, headers=world.api["outsider"])).status_code == 403
    assert (await http.get(URL)).status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("upstream_registry", "https://quay.io"),
        ("upstream_registry", "quay.io/Upper"),
        ("upstream_registry", ""),
        ("upstream_registry", "quay..io"),
        ("expiration_s", 5),
    ],
)
async def test_a_bad_configuration_is_refused(world: World, field: str, value: object) -> None:
    body = {"upstream_registry": "quay.io", field: value}
    r = await world.reg.http.post(URL, json=body, headers=world.api["owner"])
    assert r.status_code == 400, r.text
    assert field in r.json()["detail"]


async def test_validation_logs_in_to_the_upstream(world: World, locked_upstream: Distribution) -> None:
    http = world.reg.http
    url = "/api/v1/organization/acme/validateproxycache"
    owner = world.api["owner"]
    good = {
        "upstream_registry": locked_upstream.host,
        "upstream_registry_username": "mirror",
        "upstream_registry_password": "upstream-secret",
        "insecure": True,
    }
    r = await http.post(url, json=good, headers=owner)
    assert r.status_code == 202, r.text
    assert r.json() == "Valid"
    r = await http.post(url, json={**good, "upstream_registry_password": "wrong"}, headers=owner)
    assert r.status_code == 400
    assert "Failed login" in r.json()["detail"]
    r = await http.post(
        url, json={"upstream_registry": locked_upstream.host, "insecure": True}, headers=owner
    )
    assert r.status_code == 202
    assert r.json() == "Anonymous"
    r = await http.post(url, json={"upstream_registry": "169.254.169.254", "insecure": True}, headers=owner)
    assert r.status_code == 400
    assert "SSRF_ALLOWED_HOSTS" in r.json()["detail"]


async def test_it_is_not_found_without_the_feature(settings: Settings, wharf: WharfApp, world: World) -> None:
    off = build_app(settings.model_copy(update={"FEATURE_PROXY_CACHE": False}), run_workers=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=off), base_url="http://registry.test"
        ) as c:
            r = await c.get(URL, headers=world.api["owner"])
            assert r.status_code == 404
            r = await c.post(URL, json={"upstream_registry": "quay.io"}, headers=world.api["owner"])
            assert r.status_code == 404
    finally:
        await off.rt.close()

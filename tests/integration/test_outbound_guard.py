"""Outbound calls refuse internal addresses unless the operator allows them (SSRF)."""

from __future__ import annotations

import pytest

from tests.integration.world import World
from tests.oidc_issuer import running_issuer
from wharf.config import load_settings
from wharf.integrations import outbound


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/x",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///nohost",
    ],
)
async def test_internal_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(outbound.OutboundRefused):
        await outbound.check_url(url, load_settings(None, {}, environ={}))


async def test_allowed_networks_and_public_addresses_pass() -> None:
    settings = load_settings(None, {"SSRF_ALLOWED_HOSTS": ["10.0.0.0/8", "idp.internal"]}, environ={})
    await outbound.check_url("http://10.1.2.3/jwks", settings)
    await outbound.check_url("https://idp.internal/.well-known/openid-configuration", settings)
    await outbound.check_url("https://93.184.216.34/", settings)
    with pytest.raises(outbound.OutboundRefused):
        await outbound.check_url("http://192.168.0.1/", settings)


async def test_federation_refuses_a_loopback_issuer_by_default(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    with running_issuer() as issuer:
        assert (await http.put("/api/v1/organization/acme/robots/deployer", headers=owner)).status_code == 201
        r = await http.post(
            "/api/v1/organization/acme/robots/deployer/federation",
            json=[{"issuer": issuer.url, "subject": "s"}],
            headers=owner,
        )
        assert r.status_code == 200
        r = await http.get("/oauth2/federation/robot/token", auth=("acme+deployer", issuer.token("s")))
        assert r.status_code == 401
        assert issuer.requests == []  # never called

"""Outbound calls refuse internal addresses unless the operator allows them (SSRF)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.integration.world import World
from tests.oidc_issuer import running_issuer
from tests.receivers import http_receiver
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


async def test_a_name_that_rebinds_after_the_check_is_not_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to an allowed address for the check and to another,
    internal one afterwards. The call goes to the address the check saw, with the name in Host."""
    with http_receiver() as checked, http_receiver(host="127.0.0.2") as internal:
        port = int(checked.url.rsplit(":", 1)[1])
        name = "rebind.wharf-test.invalid"
        answers = iter(["127.0.0.1"])  # the first answer, then the internal address forever
        real = socket.getaddrinfo

        def rebinding_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == name:
                ip = next(answers, "127.0.0.2")
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
        # only the first address is allowed; the rebound one is an internal service
        settings = load_settings(None, {"SSRF_ALLOWED_HOSTS": ["127.0.0.1/32"]}, environ={})
        answer = await outbound.post(f"http://{name}:{port}/hook", settings, b"{}")
        assert answer.status == 200
        [request] = checked.wait_for(1)
        assert request.headers["host"] == f"{name}:{port}" and request.path == "/hook"
        assert internal.requests == []

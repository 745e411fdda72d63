"""Outbound calls refuse internal addresses unless the operator allows them (SSRF)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.integration.world import World
from tests.oidc_issuer import running_issuer
from tests.receivers import http_receiver
from wharf.config import load_settings
from wharf.integrations import org_registries, outbound


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


def _dns(monkeypatch: pytest.MonkeyPatch, name: str, port: int, answers: list[str]) -> None:
    """`name` resolves to each of `answers` in turn, then to the last one forever."""
    real = socket.getaddrinfo
    left = iter(answers)

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            ip = next(left, answers[-1])
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


async def test_an_org_mirror_upstream_resolving_to_an_internal_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Organization mirroring's listings go through the guard as the repository mirrors' do: a
    name that resolves to an internal address is refused before anything is sent."""
    with http_receiver() as internal:
        port = int(internal.url.rsplit(":", 1)[1])
        name = "harbor.wharf-test.invalid"
        _dns(monkeypatch, name, port, ["127.0.0.1"])
        source = org_registries.Source("harbor", f"http://{name}:{port}", "proj")
        ok, message = await org_registries.verify(load_settings(None, {}, environ={}), source, timeout_s=5)
        assert not ok and "SSRF_ALLOWED_HOSTS" in message
        with pytest.raises(org_registries.DiscoveryError, match="SSRF_ALLOWED_HOSTS"):
            await org_registries.list_repositories(
                load_settings(None, {}, environ={}), source, timeout_s=5, deadline_s=10
            )
        assert internal.requests == []


async def test_an_org_mirror_listing_goes_to_the_address_the_guard_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name resolves to an allowed address for the check and to an internal
    one afterwards; the listing is sent to the checked address, with the name in Host."""
    with http_receiver() as checked, http_receiver(host="127.0.0.2") as internal:
        port = int(checked.url.rsplit(":", 1)[1])
        name = "rebind-harbor.wharf-test.invalid"
        _dns(monkeypatch, name, port, ["127.0.0.1", "127.0.0.2"])
        settings = load_settings(None, {"SSRF_ALLOWED_HOSTS": ["127.0.0.1/32"]}, environ={})
        source = org_registries.Source("harbor", f"http://{name}:{port}", "proj", "reader", "secret")
        ok, message = await org_registries.verify(settings, source, timeout_s=5)
        assert not ok and "JSON" in message  # the receiver answers "ok": it was reached
        [request] = checked.wait_for(1)
        assert request.headers["host"] == f"{name}:{port}" and request.path == "/api/v2.0/projects/proj"
        assert internal.requests == []

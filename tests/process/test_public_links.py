"""Without SERVER_HOSTNAME, the links a real `wharf serve` hands out name the address it listens
on, whatever Host header a request carries."""

from __future__ import annotations

import httpx

from tests.process.server import WharfServer


def test_realm_names_the_listen_address_not_the_host_header(server: WharfServer) -> None:
    r = httpx.get(f"{server.url}/v2/", headers={"Host": "evil.example"}, timeout=30)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="http://127.0.0.1:{server.port}/v2/auth",')
    assert "SERVER_HOSTNAME is not set" in server.log.read_text()

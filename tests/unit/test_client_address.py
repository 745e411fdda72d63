"""The client address: the connection's peer, or what trusted proxies forward for it."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from wharf.auth.address import client_address


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 4000), "headers": headers})


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ([], "10.0.0.5", ["1.2.3.4"], "10.0.0.5"),  # no trusted proxies: the header means nothing
        (["10.0.0.5"], "192.0.2.1", ["1.2.3.4"], "192.0.2.1"),  # not from the proxy
        (["10.0.0.5"], "10.0.0.5", ["1.2.3.4"], "1.2.3.4"),
        (["10.0.0.0/24"], "10.0.0.5", ["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # the left part is the client's say
        (["10.0.0.0/24"], "10.0.0.5", ["1.2.3.4, 10.0.0.7"], "1.2.3.4"),  # two proxies deep
        (["10.0.0.0/24"], "10.0.0.5", ["6.6.6.6", "1.2.3.4"], "1.2.3.4"),  # several headers
        (["10.0.0.0/24"], "10.0.0.5", ["junk, 10.0.0.9"], "10.0.0.9"),  # the nearest known hop
        (["10.0.0.0/24"], "10.0.0.5", [], "10.0.0.5"),
        (["10.0.0.0/24"], "10.0.0.5", ["1.2.3.4:5555"], "1.2.3.4"),
        (["10.0.0.0/24"], "10.0.0.5", ["[2001:db8::1]:443"], "2001:db8::1"),
        (["::1"], "::1", ["2001:db8::2"], "2001:db8::2"),
        (["10.0.0.0/24"], "::ffff:10.0.0.5", ["1.2.3.4"], "1.2.3.4"),  # IPv4-mapped peer
    ],
)
def test_client_address(trusted: list[str], peer: str, forwarded: list[str], expected: str) -> None:
    assert client_address(_request(peer, *forwarded), trusted) == expected

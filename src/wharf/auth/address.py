"""The client's address, the one every surface uses for throttling and the audit log.

The peer of the connection is the client, unless it is one of TRUSTED_PROXIES: then the client is
the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (the left part of the
header is whatever the client chose to send, so it is never believed). With no trusted proxies
(the default) `X-Forwarded-For` is ignored.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in networks)


def client_address(conn: HTTPConnection, trusted: Sequence[str]) -> str | None:
    """The address of the client behind this request (see the module's docstring)."""
    peer = conn.client.host if conn.client else None
    if not trusted or peer is None:
        return peer
    networks = _networks(tuple(trusted))
    current = _ip(peer)
    if current is None or not _trusted(current, networks):
        return peer
    hops = [h for value in conn.headers.getlist("x-forwarded-for") for h in value.split(",")]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break  # garbage: the last trusted hop is the best we know
        current = ip
        if not _trusted(ip, networks):
            break
    return str(current)

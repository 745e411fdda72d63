"""The only way Wharf calls out: URLs are checked so that a user-supplied address cannot reach
internal services (SSRF), unless the operator allows those networks in SSRF_ALLOWED_HOSTS.

Every address the host name resolves to must be public (or allowed), and the connection goes to
an address the check saw: the URL is rewritten to it, with the name kept in the Host header and
as the TLS server name (certificates are still verified against the name). So a name cannot
resolve to a public address for the check and an internal one for the connection (DNS
rebinding). Redirects are never followed blindly: each URL an answer points to goes through the
check again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wharf.config import Settings

MAX_BODY = 1024 * 1024
TIMEOUT_S = 10.0
MAX_REDIRECTS = 3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The URL may not be called: a bad scheme, or an internal address that is not allowed."""


class OutboundFailed(Exception):
    """The remote end could not be reached or answered with an error or an unreadable body."""


def _allowed(settings: Settings) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts: set[str] = set()
    networks = []
    for entry in settings.SSRF_ALLOWED_HOSTS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower())
    return hosts, networks


def is_internal(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_internal(ip.ipv4_mapped)
    return not ip.is_global or ip.is_multicast


# Names of internal services, refused without asking DNS (Quay refuses the same ones).
_INTERNAL_NAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.azure.internal",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
)


def _refuse_internal(host: str, ip: IPAddress | None) -> None:
    shown = f"{host} ({ip})" if ip is not None and str(ip) != host else host
    raise OutboundRefused(
        f"refusing to call {shown}: it is an internal address; an operator can allow it "
        "with SSRF_ALLOWED_HOSTS"
    )


# The checks in the order a URL is read (scheme, name, allowed, literal or resolved addresses), each
# refusing with its own message: split up, the order that makes it safe would be harder to see.
async def check_url(  # noqa: C901
    url: str, settings: Settings, blocked_hosts: Collection[str] = (), *, resolve: bool = True
) -> list[IPAddress]:
    """Refuse a URL that is not http(s), names a host in `blocked_hosts` (the operator's
    WEBHOOK_HOSTNAME_BLACKLIST, for webhooks and export callbacks), or resolves to an internal
    address that SSRF_ALLOWED_HOSTS does not allow. With `resolve` false, DNS is not asked: only
    address literals and well-known internal names are refused (a check when a URL is stored;
    the call itself checks again, resolving).

    Returns the addresses the host resolved to, all checked (empty when DNS was not asked, or the
    host is allowed by name): a call connects to one of them (`_pinned`)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        raise OutboundRefused(f"{url[:200]!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"{url!r} is not an http:// or https:// URL (the scheme must be http or https)")
    host = parts.hostname.lower()
    if host in {h.lower() for h in blocked_hosts}:
        raise OutboundRefused(f"{host} is in WEBHOOK_HOSTNAME_BLACKLIST")
    hosts, networks = _allowed(settings)
    if host in hosts:
        return []
    if not resolve:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if is_internal(literal) and not any(literal in n for n in networks):
                _refuse_internal(host, literal)
        elif host in _INTERNAL_NAMES or host.endswith(".localhost"):
            _refuse_internal(host, None)
        return []
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as e:
        raise OutboundFailed(f"cannot resolve {host}: {e}") from None
    checked: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if is_internal(ip) and not any(ip in n for n in networks):
            _refuse_internal(host, ip)
        checked.append(ip)
    return checked


@dataclass(frozen=True, slots=True)
class _Pinned:
    """A request to a checked URL, addressed to the IP the check saw rather than to the name."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


def _pinned(url: str, addresses: list[IPAddress]) -> _Pinned:
    if not addresses:
        return _Pinned(url, {}, {})
    import httpx

    original = httpx.URL(url)
    target = original.copy_with(host=str(addresses[0]))
    # The name stays what the server and its certificate see: in Host, and as the TLS server name.
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return _Pinned(str(target), {"Host": original.netloc.decode("ascii")}, extensions)


async def get_json(url: str, settings: Settings, *, headers: dict[str, str] | None = None) -> Any:
    """GET a JSON document of at most 1 MiB from a checked URL (`headers`: an API's credentials)."""
    return (await get_page(url, settings, headers=headers)).body


@dataclass(frozen=True, slots=True)
class Page:
    """A JSON answer, and the URL of the next page when the answer says one (`Link: rel="next"`)."""

    body: Any
    next_url: str | None


def next_link(link: str | None) -> str | None:
    """The `rel="next"` target of a Link header (RFC 8288), as GitHub and GitLab paginate."""
    for part in (link or "").split(","):
        target, _, params = part.strip().partition(";")
        rels = {p.strip().lower() for p in params.split(";")}
        if target.startswith("<") and target.endswith(">") and ('rel="next"' in rels or "rel=next" in rels):
            return target[1:-1]
    return None


def same_origin(url: str | None, base: str) -> str | None:
    """`url` if it has `base`'s scheme, host and port, else None: an API's next page is followed
    only on the API itself, since the caller's token goes with it."""
    if url is None:
        return None
    a, b = urlsplit(url), urlsplit(base)
    return url if (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower()) else None


async def _get(
    url: str, settings: Settings, headers: dict[str, str], max_bytes: int
) -> tuple[bytes, str | None]:
    """GET a checked URL, no redirect followed: the body (at most `max_bytes`) and its Link header."""
    import httpx  # here, not at the top: most processes never call out, and httpx is ~5 MiB

    pinned = _pinned(url, await check_url(url, settings))
    try:
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client,
            client.stream(
                "GET", pinned.url, headers={**headers, **pinned.headers}, extensions=pinned.extensions
            ) as r,
        ):
            if r.status_code != 200:
                raise OutboundFailed(f"GET {url} answered {r.status_code}")
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise OutboundFailed(f"GET {url}: the answer is larger than {max_bytes} bytes")
            return bytes(body), r.headers.get("link")
    except httpx.HTTPError as e:
        raise OutboundFailed(f"GET {url} failed: {e}") from None


async def get_page(url: str, settings: Settings, *, headers: dict[str, str] | None = None) -> Page:
    """GET one page of a JSON list: the document (at most 1 MiB) and its next page's URL."""
    body, link = await _get(url, settings, {"Accept": "application/json", **(headers or {})}, MAX_BODY)
    try:
        return Page(json.loads(body), next_link(link))
    except ValueError:
        raise OutboundFailed(f"GET {url} did not answer JSON") from None


async def get_bytes(
    url: str, settings: Settings, *, max_bytes: int, headers: dict[str, str] | None = None
) -> bytes:
    """GET a file's raw bytes (an API's `raw` endpoint: `headers` carry its credentials), at most
    `max_bytes` of them. No redirect is followed, since the credentials would go with it."""
    body, _ = await _get(url, settings, headers or {}, max_bytes)
    return body


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


async def post(
    url: str,
    settings: Settings,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    client_cert: ssl.SSLContext | None = None,
    blocked_hosts: Collection[str] = (),
) -> Answer:
    """POST to a checked URL and read at most 1 MiB of the answer. A 307 or 308 redirect is followed
    (at most three times) after its target passes the same checks; any other status is returned."""
    import httpx  # here, not at the top: most processes never call out, and httpx is ~5 MiB

    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    timeout = timeout_s if timeout_s is not None else TIMEOUT_S
    for _ in range(MAX_REDIRECTS + 1):
        pinned = _pinned(url, await check_url(url, settings, blocked_hosts))
        verify: ssl.SSLContext | bool = client_cert if client_cert is not None else True
        try:
            async with (
                httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=verify) as client,
                client.stream(
                    "POST",
                    pinned.url,
                    content=body,
                    headers={**sent_headers, **pinned.headers},
                    extensions=pinned.extensions,
                ) as r,
            ):
                if r.status_code in (307, 308) and "location" in r.headers:
                    url = str(httpx.URL(url).join(r.headers["location"]))
                    continue
                answer = bytearray()
                async for chunk in r.aiter_bytes():
                    answer += chunk
                    if len(answer) > MAX_BODY:
                        break
                return Answer(r.status_code, bytes(answer[:MAX_BODY]))
        except httpx.HTTPError as e:
            raise OutboundFailed(f"POST {url} failed: {type(e).__name__}: {e}") from None
    raise OutboundFailed(f"POST {url}: more than {MAX_REDIRECTS} redirects")


async def delete(url: str, settings: Settings, *, headers: dict[str, str] | None = None) -> int:
    """DELETE a checked URL (an API's resource); its status, the answer's body unread."""
    import httpx  # here, not at the top: most processes never call out, and httpx is ~5 MiB

    pinned = _pinned(url, await check_url(url, settings))
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            r = await client.delete(
                pinned.url, headers={**(headers or {}), **pinned.headers}, extensions=pinned.extensions
            )
            return r.status_code
    except httpx.HTTPError as e:
        raise OutboundFailed(f"DELETE {url} failed: {type(e).__name__}: {e}") from None


@dataclass(frozen=True, slots=True)
class Download:
    modified: bool
    """False when the server answered 304 Not Modified: nothing was written."""
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0


_REDIRECTS = (301, 302, 303, 307, 308)


async def download(
    url: str,
    settings: Settings,
    dest: Path,
    *,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Download:
    """GET a checked URL into the file `dest`, streamed (a chunk at a time in memory), asking only
    for a newer copy than `etag` / `last_modified` when given. Redirects are followed, at most
    MAX_REDIRECTS, each target checked as the first was. Raises OutboundFailed for another status,
    a body over `max_bytes`, or a failed connection."""
    import httpx  # here, not at the top: most processes never call out, and httpx is ~5 MiB

    conditions = {"If-None-Match": etag or "", "If-Modified-Since": last_modified or ""}
    headers = {k: v for k, v in conditions.items() if v}
    for _ in range(MAX_REDIRECTS + 1):
        pinned = _pinned(url, await check_url(url, settings))
        try:
            async with (
                httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client,
                client.stream(
                    "GET", pinned.url, headers={**headers, **pinned.headers}, extensions=pinned.extensions
                ) as r,
            ):
                if r.status_code in _REDIRECTS and "location" in r.headers:
                    url = str(httpx.URL(url).join(r.headers["location"]))
                    continue
                if r.status_code == 304:
                    return Download(False, etag, last_modified)
                if r.status_code != 200:
                    raise OutboundFailed(f"GET {url} answered {r.status_code}")
                size = 0
                with dest.open("wb") as out:
                    async for chunk in r.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise OutboundFailed(f"GET {url}: the answer is larger than {max_bytes} bytes")
                        out.write(chunk)
                return Download(True, r.headers.get("etag"), r.headers.get("last-modified"), size)
        except httpx.HTTPError as e:
            raise OutboundFailed(f"GET {url} failed: {type(e).__name__}: {e}") from None
    raise OutboundFailed(f"GET {url}: more than {MAX_REDIRECTS} redirects")


def client_certificate(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context presenting WEBHOOK_CLIENT_CERT, or None when none is configured."""
    if settings.WEBHOOK_CLIENT_CERT is None:
        return None
    context = ssl.create_default_context()
    context.load_cert_chain(settings.WEBHOOK_CLIENT_CERT, settings.WEBHOOK_CLIENT_KEY)
    return context

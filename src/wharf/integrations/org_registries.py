"""Listing the repositories of a namespace in another registry, for organization mirroring: a
Quay organization through Quay's API (`GET /api/v1/repository?namespace=`, paged by
`next_page`; a second Wharf speaks it too), a Harbor project through Harbor's v2 API
(`GET /api/v2.0/projects/{project}/repositories`, paged by `page`/`page_size`).

Every request goes through the outbound guard (an internal address is refused unless
SSRF_ALLOWED_HOSTS lists it) by the repository mirrors' own path (`upstream.checked_target`): a
direct connection goes to the address the guard checked, so a name that resolves to another one
afterwards (DNS rebinding) is not followed; through a proxy both the name and the proxy are
checked. Redirects are not followed: a registry's API has no reason to
send one, and following it would take the credentials elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from wharf.config import Settings
from wharf.integrations.outbound import OutboundRefused
from wharf.integrations.upstream import Proxies, UpstreamError, checked_target, http_proxy

if TYPE_CHECKING:
    import httpx

PAGE_SIZE = 100
MAX_PAGES = 1000
MAX_BODY = 8 * 1024 * 1024
_CAP = "8 MiB"


class DiscoveryError(Exception):
    """The upstream could not be listed (unreachable, refused the credentials, not found...)."""


@dataclass(frozen=True, slots=True)
class Source:
    kind: str  # harbor | quay
    url: str  # https://host[:port]
    namespace: str
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    proxies: Proxies | None = None
    """The configuration's proxies (`external_registry_config.proxy`); None: the environment's."""


def _headers(source: Source) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if source.kind == "quay":
        # Quay's API takes an OAuth token, not Basic: Quay's own org mirror sends the password
        # field as the token.
        if source.password:
            headers["Authorization"] = f"Bearer {source.password}"
    elif source.username or source.password:
        pair = f"{source.username or ''}:{source.password or ''}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    return headers


async def _get(
    settings: Settings, source: Source, path: str, params: dict[str, Any], timeout_s: float
) -> Any:
    import httpx  # here, not at the top: most processes never call out (~5 MiB)

    url = f"{source.url}{path}" + (f"?{urlencode(params)}" if params else "")
    proxy = source.proxies.choose(url) if source.proxies is not None else None
    try:
        # the guard's own answer is where the request goes (not a second DNS lookup by httpx)
        pinned = await checked_target(settings, url, proxy)
    except (OutboundRefused, UpstreamError) as e:
        raise DiscoveryError(str(e)) from None
    try:
        async with httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            verify=source.verify_tls,
            proxy=http_proxy(proxy, None) if proxy is not None else None,
            trust_env=source.proxies is None,
        ) as client:
            request = client.build_request(
                "GET",
                pinned.url,
                headers={**_headers(source), **pinned.headers},
                extensions=pinned.extensions,
            )
            response = await client.send(request, stream=True)
            try:
                _expect_ok(source, url, response.status_code)
                body = await _read_capped(response, url)
            finally:
                await response.aclose()
    except httpx.HTTPError as e:
        raise DiscoveryError(f"GET {url} failed: {e}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise DiscoveryError(f"GET {url} did not answer JSON") from None


def _expect_ok(source: Source, url: str, status: int) -> None:
    if status in (401, 403):
        raise DiscoveryError(f"{source.url} refused the credentials ({status})")
    if status == 404:
        raise DiscoveryError(f"namespace {source.namespace!r} not found on {source.url}")
    if status != 200:
        raise DiscoveryError(f"GET {url} answered {status}")


async def _read_capped(response: httpx.Response, url: str) -> bytes:
    """The body, read as it arrives and given up at MAX_BODY: a registry answering an endless
    or huge listing costs the worker at most that much memory, not the whole answer."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise DiscoveryError(f"GET {url}: the answer ({int(declared)} bytes) is larger than {_CAP}")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            raise DiscoveryError(f"GET {url}: the answer is larger than {_CAP}; reading stopped there")
    return bytes(body)


async def _quay(settings: Settings, source: Source, timeout_s: float) -> list[str]:
    names: list[str] = []
    params: dict[str, Any] = {"namespace": source.namespace}
    if not source.password:
        params["public"] = "true"
    for _ in range(MAX_PAGES):
        body = await _get(settings, source, "/api/v1/repository", params, timeout_s)
        for repo in body.get("repositories") or []:
            if repo.get("namespace", source.namespace) == source.namespace and repo.get("name"):
                names.append(str(repo["name"]))
        next_page = body.get("next_page")
        if not next_page:
            return names
        params = {**params, "next_page": next_page}
    raise DiscoveryError(f"{source.url}: more than {MAX_PAGES} pages of repositories")


async def _harbor(settings: Settings, source: Source, timeout_s: float) -> list[str]:
    names: list[str] = []
    path = f"/api/v2.0/projects/{source.namespace}/repositories"
    for page in range(1, MAX_PAGES + 1):
        body = await _get(settings, source, path, {"page": page, "page_size": PAGE_SIZE}, timeout_s)
        if not isinstance(body, list):
            raise DiscoveryError(f"{source.url}: the repository list is not a list")
        for repo in body:
            full = str(repo.get("name", ""))
            # Harbor names a repository with its project: "project/name".
            name = full.split("/", 1)[1] if full.startswith(f"{source.namespace}/") else full
            if name:
                names.append(name)
        if len(body) < PAGE_SIZE:
            return names
    raise DiscoveryError(f"{source.url}: more than {MAX_PAGES} pages of repositories")


async def list_repositories(
    settings: Settings, source: Source, *, timeout_s: float, deadline_s: float
) -> list[str]:
    """The names (without the namespace) of the namespace's repositories, sorted; the whole
    listing must end within `deadline_s` (ORG_MIRROR_MAX_DISCOVERY_DURATION)."""
    lister = _quay if source.kind == "quay" else _harbor
    try:
        async with asyncio.timeout(deadline_s):
            return sorted(set(await lister(settings, source, timeout_s)))
    except TimeoutError:
        raise DiscoveryError(f"{source.url}: listing took longer than {deadline_s:.0f} s") from None


async def verify(settings: Settings, source: Source, *, timeout_s: float) -> tuple[bool, str]:
    """Whether the namespace can be listed with these credentials, and a sentence saying so."""
    try:
        if source.kind == "quay":
            params: dict[str, Any] = {"namespace": source.namespace}
            if not source.password:
                params["public"] = "true"
            await _get(settings, source, "/api/v1/repository", params, timeout_s)
        else:
            await _get(settings, source, f"/api/v2.0/projects/{source.namespace}", {}, timeout_s)
    except DiscoveryError as e:
        return False, str(e)
    return True, f"Connected to {source.url} and found {source.namespace}"

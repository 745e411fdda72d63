"""A client of another OCI registry (the upstream of a proxy-cache organization, later of mirrors).

Every request goes through the outbound guard (`outbound.check_url`) to an address the check saw,
and so does every redirect: an upstream cannot send Wharf to an internal service unless the
operator allows it (SSRF_ALLOWED_HOSTS). Authentication follows the registry's challenge:
anonymous first, then Basic or a Bearer token from the token service the `WWW-Authenticate`
header names, scoped to the one repository. Credentials are only ever sent to the registry's own
host: a redirect to blob storage elsewhere (a presigned URL) goes without them. 429 and 5xx are
retried a few times with backoff, honouring a short Retry-After. Blobs are read as a stream whose
digest is checked as the bytes pass; the last chunk is only handed out once it matched.

A mirror's requests may go through forward proxies (`Proxies`, Quay's `external_registry_config.proxy`):
the guard then checks both the upstream's name and the proxy's address, and the request names the
host for the proxy to connect to (`checked_target`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import re
import time
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wharf.config import Settings
from wharf.integrations.outbound import OutboundFailed, _Pinned, _pinned, check_url
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest

if TYPE_CHECKING:
    import ssl

    import httpx

MANIFEST_ACCEPT = ", ".join([mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST])
"""Every manifest type Wharf stores: a client gets what the upstream has, never a conversion."""

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 3
RETRIES = 3
MAX_RETRY_AFTER_S = 10.0
"""A longer Retry-After is not waited for: the pull fails (or serves the cache) instead."""
_RETRIED = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


class UpstreamError(Exception):
    """The upstream could not be reached, refused the credentials or answered with an error.
    `status` is the HTTP status when there was an answer (None for a connection failure)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def unavailable(self) -> bool:
        """The upstream is down rather than saying no: unreachable, 429 or 5xx."""
        return self.status is None or self.status == 429 or self.status >= 500


class UpstreamDigestMismatch(UpstreamError):
    """The bytes the upstream sent are not those of the digest they were asked for."""


@dataclass(frozen=True, slots=True)
class Proxies:
    """The forward proxies a mirror's requests go through (Quay's `external_registry_config.proxy`,
    which its worker hands to skopeo as HTTP_PROXY, HTTPS_PROXY and NO_PROXY). `http` and `https`
    are proxy URLs, `http://`, `https://` (TLS to the proxy), `socks5://` or `socks5h://`, with an
    optional `user:password@` (core/mirrors.py checks them); `no_proxy` the hosts reached directly,
    as curl and Go read NO_PROXY: `*` for every host, a name that also covers its subdomains
    (`example.com`, `.example.com`), an address, a network (`10.0.0.0/8`), each with an optional
    `:port`."""

    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()

    def choose(self, url: str) -> str | None:
        """The proxy a request to `url` goes through; None: straight to the host."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme == "https" else self.http
        if proxy is None or not parts.hostname:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if any(_bypasses(entry, parts.hostname.lower(), port) for entry in self.no_proxy):
            return None
        return proxy


def _bypasses(entry: str, host: str, port: int) -> bool:
    """Whether one NO_PROXY entry names `host:port`."""
    entry = entry.strip().lower()
    if entry == "*":
        return True
    try:  # an address or a network, IPv6 ones written bare or in brackets
        network = ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        network = None
    if network is None:
        name, _, wanted = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if wanted and not wanted.isdigit():
            return False
        if wanted and int(wanted) != port:
            return False
        name = name.lstrip(".")
        if not name:
            return False
        try:
            network = ipaddress.ip_network(name.strip("[]"), strict=False)
        except ValueError:
            return host == name or host.endswith("." + name)
    try:
        return ipaddress.ip_address(host.strip("[]")) in network
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where an upstream is and how to log in: `registry` is `host[:port]` with an optional
    namespace prefix (`quay.io/projectquay`), as a proxy-cache organization names it."""

    registry: str
    username: str | None = None
    password: str | None = None
    insecure: bool = False
    """Plain HTTP only (Quay's proxy-cache `insecure`: its client then calls `http://`)."""
    skip_tls_verify: bool = False
    """HTTPS without a certificate check, and plain HTTP for a registry that does not speak TLS
    (Quay's mirror `verify_tls: false`, which its worker hands to skopeo as
    `--src-tls-verify=false`: docker's rule for an "insecure registry")."""
    proxies: Proxies | None = None
    """Forward proxies to go through (a mirror's); None: straight to the registry."""

    @property
    def host(self) -> str:
        return self.registry.split("/", 1)[0].lower()

    @property
    def prefix(self) -> str:
        parts = self.registry.split("/", 1)
        return parts[1].strip("/") if len(parts) > 1 else ""

    @property
    def base_url(self) -> str:
        host = "registry-1.docker.io" if self.host in DOCKER_HUB else self.host
        return f"{'http' if self.insecure else 'https'}://{host}"

    def repository(self, name: str) -> str:
        """The upstream repository of `name` (the part after the organization): under the prefix,
        and on Docker Hub a one-component name is an official image (`library/`)."""
        full = f"{self.prefix}/{name}" if self.prefix else name
        if self.host in DOCKER_HUB and "/" not in full:
            full = f"library/{full}"
        return full


@dataclass(frozen=True, slots=True)
class UpstreamManifest:
    digest: str
    media_type: str
    content: bytes
    """Empty for a HEAD."""


_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait before retry number `attempt`: the server's Retry-After when it gave one,
    else 0.5, 1, 2 s; never more than MAX_RETRY_AFTER_S."""
    delay: float = 0.5 * (1 << attempt)
    if value:
        try:
            delay = float(value)
        except ValueError:
            try:
                from datetime import UTC, datetime

                delay = float((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    return max(0.0, min(delay, MAX_RETRY_AFTER_S))


TokenCache = dict[tuple[str, ...], tuple[str, float]]
"""(registry, login, scope) -> (token, until when, in time.monotonic())."""
_TOKEN_CACHE_MAX = 10_000
DEFAULT_TOKEN_LIFETIME_S = 60
"""A token service that does not say `expires_in` means 60 seconds (the distribution spec)."""


def preload() -> None:
    """Import the HTTP client now (0.1-0.25 s here): a process serving a proxy cache would
    otherwise pay it in its first cold pull, with the client waiting."""
    import importlib

    importlib.import_module("httpx")


_POOL_MAX = 64
_KEPT_CONNECTIONS = 32
"""Idle connections a client keeps per host. Open ones are not limited: a blob's fetch holds its
connection at its client's pace, and a limit would make the next pulls wait for a slow one."""


_OPENED_MAX = 1024
"""Stored configurations whose opened credentials a process keeps (a proxy cache's, a mirror's)."""


def _limits() -> httpx.Limits:
    import httpx

    return httpx.Limits(max_connections=None, max_keepalive_connections=_KEPT_CONNECTIONS)


"""Upstream clients a process keeps (configurations times hosts); the least recently used one
goes when another is needed."""


class ClientPool:
    """The process's HTTP clients for upstream registries, kept across pulls so that a cold pull
    does not pay a new client, SSL context and connection (a TLS handshake) for every manifest and
    blob it fetches. One client per upstream configuration and host: a changed configuration (other
    credentials, `insecure`) gets a client of its own, and a connection only ever carries requests
    for the host name it was opened for. Requests go to the address the outbound guard saw, so
    connections are pooled by address: two names on one address share no connection (no request
    reaches a name over a TLS session whose certificate was checked for another name). A client
    whose requests go through a forward proxy is one of its own (keyed by the proxy too). The
    verifying SSL context (the CA bundle, read once) is shared by all clients.

    Connections belong to the event loop that opened them: on another loop the pool starts again."""

    def __init__(self, max_clients: int = _POOL_MAX) -> None:
        self._max = max_clients
        self._clients: dict[tuple[Upstream, float, str, str | None], httpx.AsyncClient] = {}
        self._retired: list[tuple[float, httpx.AsyncClient]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._verifying: ssl.SSLContext | None = None
        self._insecure: ssl.SSLContext | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.challenges: dict[str, dict[str, str]] = {}
        """A registry's (base URL's) last Bearer challenge: where its tokens come from."""
        self._opened: dict[Hashable, Upstream] = {}

    def upstream(self, stored: Hashable, open_stored: Callable[[], Upstream]) -> Upstream:
        """The Upstream of a stored configuration, `open_stored()` (which decrypts its credentials)
        only the first time: every manifest and blob of a pull asks for it. `stored` is the
        configuration as read, sealed credentials included: a new or changed configuration is
        sealed anew, so it is another key and never finds an old one's credentials."""
        found = self._opened.get(stored)
        if found is None:
            if len(self._opened) >= _OPENED_MAX:
                self._opened.clear()
            found = self._opened[stored] = open_stored()
        return found

    def client(
        self, upstream: Upstream, timeout_s: float, host: str, proxy: str | None = None
    ) -> httpx.AsyncClient:
        """`proxy`: the forward proxy the client's requests go through (a client per proxy)."""

        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # their connections died with their loop
            self._clients.clear()
            self._retired.clear()
            self._loop = loop
        self._close_retired(time.monotonic() - _RETIRED_GRACE_S)
        key = (upstream, timeout_s, host, proxy)
        found = self._clients.pop(key, None)
        if found is None:
            while len(self._clients) >= self._max:
                self._retire(self._clients.pop(next(iter(self._clients))))
            if proxy is None and (upstream.proxies is not None or not _environment_proxies()):
                import httpx  # here, not at the top: most processes never call out (~5 MiB)

                from wharf.integrations.upstream_transport import WideTransport

                unverified = upstream.insecure or upstream.skip_tls_verify
                context = self._insecure_context() if unverified else self._verifying_context()
                found = httpx.AsyncClient(
                    timeout=timeout_s,
                    follow_redirects=False,
                    transport=WideTransport(context, _limits()),
                )
            else:  # through a proxy: httpx's own transport, which speaks to proxies
                verify: ssl.SSLContext | bool = (
                    False if upstream.insecure or upstream.skip_tls_verify else self._verifying_context()
                )
                found = _new_client(upstream, timeout_s, verify, proxy, self._verifying_context(), _limits())
        self._clients[key] = found  # last: the dict's order is least recently used first
        return found

    def holds(self, upstream: Upstream) -> bool:
        """Whether the pool has a client of this configuration now."""
        return any(key[0] == upstream for key in self._clients)

    def forget(self, upstream: Upstream) -> None:
        """The clients of a configuration that went away (a changed one has clients of its own)."""
        for key in [k for k in self._clients if k[0] == upstream]:
            self._retire(self._clients.pop(key))
        for stored in [k for k, v in self._opened.items() if v == upstream]:
            del self._opened[stored]

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *(c for _, c in self._retired)]
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            await client.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _verifying_context(self) -> ssl.SSLContext:
        if self._verifying is None:
            import httpx

            self._verifying = httpx.create_ssl_context()
        return self._verifying

    def _insecure_context(self) -> ssl.SSLContext:
        if self._insecure is None:
            import httpx

            self._insecure = httpx.create_ssl_context(verify=False)
        return self._insecure

    def _retire(self, client: httpx.AsyncClient) -> None:
        """Closed a while later, not now: a request may still be streaming a blob through it."""
        self._retired.append((time.monotonic(), client))

    def _close_retired(self, before: float) -> None:
        while self._retired and self._retired[0][0] < before:
            task = asyncio.get_running_loop().create_task(self._retired.pop(0)[1].aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


def _environment_proxies() -> bool:
    """Whether the process's environment names proxies (HTTPS_PROXY...), which a configuration
    without proxies of its own leaves in force."""
    import urllib.request

    return any(scheme != "no" for scheme in urllib.request.getproxies())


def _new_client(
    upstream: Upstream,
    timeout_s: float,
    verify: ssl.SSLContext | bool,
    proxy: str | None,
    proxy_context: ssl.SSLContext | None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    import httpx  # here, not at the top: most processes never call out (~5 MiB)

    # A configuration with proxies decides alone (NO_PROXY included); one without leaves the
    # process's environment (HTTPS_PROXY...) in force, as before proxies could be configured.
    return httpx.AsyncClient(
        timeout=timeout_s,
        follow_redirects=False,
        verify=verify,
        proxy=http_proxy(proxy, proxy_context) if proxy is not None else None,
        trust_env=upstream.proxies is None,
        limits=limits
        if limits is not None
        else httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def http_proxy(proxy: str, context: ssl.SSLContext | None) -> httpx.Proxy:
    """httpx's view of a proxy URL: its credentials as the proxy's login (never in a URL that is
    logged or shown), and an `https://` proxy's certificate verified with `context` (the trust the
    upstreams get: the system's CAs, SSL_CERT_FILE) whatever the upstream's own TLS setting, which
    is about the registry, not the proxy."""
    import httpx

    if not proxy.startswith("https://"):
        return httpx.Proxy(proxy)
    return httpx.Proxy(proxy, ssl_context=context or httpx.create_ssl_context())


def guard_url(proxy: str) -> str:
    """The URL the outbound guard checks for a proxy: its host and port, over http (the guard
    knows http and https only), without the credentials, which no error message may carry."""
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"http://{host}{port}/"


_RETIRED_GRACE_S = 600.0
"""How long a retired client stays open for the requests still using it (a blob's stream)."""


@dataclass(slots=True)
class RegistryClient:
    """Use as `async with RegistryClient(settings, upstream) as client:`; one connection pool and
    one token per repository scope for the client's life. With `shared_tokens` (a dict the
    process keeps), tokens outlive the client until they expire: the next pull of the repository
    goes straight to the registry instead of being challenged and fetching a token again. With a
    `pool` (the process's), connections outlive it too."""

    settings: Settings
    upstream: Upstream
    timeout_s: float = 30.0
    shared_tokens: TokenCache | None = None
    pool: ClientPool | None = None
    _own: dict[str | None, httpx.AsyncClient] = field(default_factory=dict)
    """Its own clients (one per proxy, None: direct), without a pool."""
    _entered: bool = False
    _tokens: dict[str, str] = field(default_factory=dict)
    _fresh: set[str] = field(default_factory=set)
    """Scopes whose token this client fetched (a shared one may have expired early: refetched)."""
    _basic: bool = False
    _plain: bool = False
    """The registry (`skip_tls_verify`) did not speak TLS: its own URLs are called over HTTP."""

    async def __aenter__(self) -> RegistryClient:
        self._entered = True
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._entered = False
        own, self._own = list(self._own.values()), {}
        for client in own:
            await client.aclose()

    def _http(self, host: str, proxy: str | None) -> httpx.AsyncClient:
        assert self._entered, "use the client in `async with`"
        if self.pool is not None:
            return self.pool.client(self.upstream, self.timeout_s, host, proxy)
        found = self._own.get(proxy)
        if found is None:
            verify = not (self.upstream.insecure or self.upstream.skip_tls_verify)
            found = _new_client(self.upstream, self.timeout_s, verify, proxy, None)
            self._own[proxy] = found
        return found

    # -- the registry's API ------------------------------------------------------------------

    async def ping(self) -> str:
        """Check the registry and the credentials: "Valid" when logged in (or open), "Anonymous"
        when it wants a login and there are no credentials. Raises UpstreamError otherwise."""
        response = await self._send("GET", f"{self.upstream.base_url}/v2/", scope=None)
        await _done_with(response)
        if response.status_code == 200:
            return "Valid"
        if response.status_code == 401 and self.upstream.username is None:
            return "Anonymous"
        raise UpstreamError(f"the upstream answered {response.status_code} to /v2/", response.status_code)

    async def manifest(self, name: str, reference: str, *, head: bool = False) -> UpstreamManifest:
        """The manifest `reference` of repository `name` (as under the organization). A HEAD gives
        only the digest and type (it costs nothing against Docker Hub's pull limit)."""
        repo = self.upstream.repository(name)
        url = f"{self.upstream.base_url}/v2/{repo}/manifests/{reference}"
        response = await self._send(
            "HEAD" if head else "GET", url, scope=repo, headers={"Accept": MANIFEST_ACCEPT}
        )
        try:
            self._expect_ok(response, f"manifest {reference} of {repo}")
            content = b"" if head else await _read_limited(response, MAX_MANIFEST_BYTES)
        finally:
            await _done_with(response)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if content:
            algorithm = reference.split(":", 1)[0] if ":" in reference else "sha256"
            digest = str(Digest.of(content, algorithm))
            if ":" in reference and digest != reference:
                raise UpstreamDigestMismatch(f"the upstream sent manifest {digest} for {reference}")
        else:
            digest = response.headers.get("docker-content-digest", "")
            if not digest:
                raise UpstreamError(f"the upstream gave no digest for manifest {reference} of {repo}")
        return UpstreamManifest(digest, media_type, content)

    async def tags(self, name: str, *, limit: int = 100_000) -> list[str]:
        """The tags of repository `name`, following the registry's pages (its `Link` header);
        at most `limit` of them (a mirror of a repository with more fails rather than hangs)."""
        import json

        import httpx

        repo = self.upstream.repository(name)
        url: str | None = f"{self.upstream.base_url}/v2/{repo}/tags/list?n=1000"
        found: list[str] = []
        while url is not None:
            response = await self._send("GET", url, scope=repo)
            try:
                self._expect_ok(response, f"tag list of {repo}")
                body = await _read_limited(response, MAX_MANIFEST_BYTES)
            finally:
                await response.aclose()
            try:
                page = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise UpstreamError(f"the upstream's tag list of {repo} is not JSON") from None
            found.extend(t for t in page if isinstance(t, str))
            if len(found) > limit:
                raise UpstreamError(f"{repo} has more than {limit} tags")
            following = _LINK_NEXT.search(response.headers.get("link", ""))
            url = str(httpx.URL(url).join(following.group(1))) if following else None
        return found

    async def blob(self, name: str, digest: Digest) -> tuple[int | None, AsyncIterator[bytes]]:
        """The blob's size (when the upstream said) and its bytes as they arrive, the digest checked
        as they pass: the last chunk is held back until the whole matched, so whoever stores or
        forwards what it gets has the full blob only when it is the right one (else the iterator
        raises UpstreamDigestMismatch). The request is sent now: a missing blob raises here."""
        repo = self.upstream.repository(name)
        url = f"{self.upstream.base_url}/v2/{repo}/blobs/{digest}"
        response = await self._send("GET", url, scope=repo)
        try:
            self._expect_ok(response, f"blob {digest} of {repo}")
        except UpstreamError:
            await _done_with(response)
            raise
        declared = response.headers.get("content-length")
        size = int(declared) if declared is not None and declared.isdigit() else None
        return size, self._verified(response, digest)

    async def blob_size(self, name: str, digest: Digest) -> int | None:
        """HEAD of the blob: its size when the upstream has it (and says), else UpstreamError."""
        repo = self.upstream.repository(name)
        response = await self._send("HEAD", f"{self.upstream.base_url}/v2/{repo}/blobs/{digest}", scope=repo)
        await _done_with(response)
        self._expect_ok(response, f"blob {digest} of {repo}")
        declared = response.headers.get("content-length")
        return int(declared) if declared is not None and declared.isdigit() else None

    @staticmethod
    async def _verified(response: httpx.Response, digest: Digest) -> AsyncIterator[bytes]:
        try:
            hasher = digest.hasher()
            held: bytes | None = None
            async for chunk in response.aiter_bytes():
                if not chunk:
                    continue
                hasher.update(chunk)
                if held is not None:
                    yield held
                held = chunk
            if f"{digest.algorithm}:{hasher.hexdigest()}" != str(digest):
                raise UpstreamDigestMismatch(f"the upstream's blob {digest} does not match its digest")
            if held is not None:
                yield held
        except _http_errors() as e:
            raise UpstreamError(f"reading blob {digest} from the upstream failed: {e}") from None
        finally:
            await response.aclose()

    # -- one request: guard, auth, redirects, retries ---------------------------------------

    async def _send(
        self, method: str, url: str, *, scope: str | None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """The answer to `method url` after logging in, redirects and retries, body unread."""
        await self._token_ahead(scope)
        for attempt in range(RETRIES + 1):
            response = await self._follow(method, url, scope, headers or {})
            if response.status_code == 401:
                await _done_with(response)  # first: its connection then fetches the token
                if await self._login(response, scope):
                    response = await self._follow(method, url, scope, headers or {})
            if response.status_code not in _RETRIED or attempt == RETRIES:
                return response
            delay = _retry_after(response.headers.get("retry-after"), attempt)
            await _done_with(response)
            if delay >= MAX_RETRY_AFTER_S:
                return response
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _follow(
        self, method: str, url: str, scope: str | None, headers: dict[str, str], *, authorize: bool = True
    ) -> httpx.Response:
        """`authorize`: send the registry's credentials for `scope` (never to the token service,
        which gets the login itself)."""
        import httpx

        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            host = httpx.URL(url).host
            own_host = host == httpx.URL(self.upstream.base_url).host
            authorization = self._authorization(scope) if authorize else None
            if own_host and authorization is not None:
                sent["Authorization"] = authorization  # never to storage on another host
            if own_host and self._plain:
                url = _plain_url(url)
            url, response = await self._attempt(method, url, sent, fall_back=own_host)
            if response.status_code in _REDIRECTS and "location" in response.headers:
                await _done_with(response)
                url = str(httpx.URL(url).join(response.headers["location"]))
                continue
            return response
        raise UpstreamError(f"{method} {url}: more than {MAX_REDIRECTS} redirects")

    async def _attempt(
        self, method: str, url: str, headers: dict[str, str], *, fall_back: bool
    ) -> tuple[str, httpx.Response]:
        """One request and the URL it went to: with `skip_tls_verify`, an https:// URL of the
        registry's own host that cannot be connected to (no TLS there: a plain-HTTP server answers
        the handshake with garbage; or nothing listens on 443) is called again over plain HTTP, as
        docker and skopeo do for an insecure registry. Each attempt passes the outbound guard."""
        import httpx

        try:
            return url, await self._request(method, url, headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            if not (fall_back and self.upstream.skip_tls_verify and url.startswith("https://")):
                raise UpstreamError(_failure(method, url, e)) from None
            first = e
        except httpx.HTTPError as e:
            raise UpstreamError(_failure(method, url, e)) from None
        plain = _plain_url(url)
        try:
            response = await self._request(method, plain, headers)
        except httpx.HTTPError as e:
            raise UpstreamError(
                f"{_failure(method, url, first)}; over plain HTTP: {type(e).__name__}: {e}"
            ) from None
        self._plain = True
        return plain, response

    async def _request(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        """`method url`, no redirect followed, to the address the outbound guard checked."""
        import httpx

        proxy = self.upstream.proxies.choose(url) if self.upstream.proxies is not None else None
        pinned = await checked_target(self.settings, url, proxy)
        http = self._http(httpx.URL(url).host, proxy)
        request = http.build_request(
            method, pinned.url, headers={**headers, **pinned.headers}, extensions=pinned.extensions
        )
        return await http.send(request, stream=True)

    def _token_key(self, scope: str) -> tuple[str, ...]:
        password = hashlib.sha256((self.upstream.password or "").encode()).hexdigest()[:16]
        return (self.upstream.base_url, self.upstream.username or "", password, scope)

    def _authorization(self, scope: str | None) -> str | None:
        token = self._tokens.get(scope or "")
        if token is None and self.shared_tokens is not None:
            hit = self.shared_tokens.get(self._token_key(scope or ""))
            if hit is not None and hit[1] > time.monotonic():
                token = self._tokens[scope or ""] = hit[0]
        if token is not None:
            return f"Bearer {token}"
        if self._basic:
            return self._basic_header()
        return None

    def _basic_header(self) -> str:
        pair = f"{self.upstream.username or ''}:{self.upstream.password or ''}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    async def _login(self, response: httpx.Response, scope: str | None) -> bool:
        """Answer a 401's challenge; True when there is something new to try with."""
        scheme, params = _challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic":
            if self.upstream.username is None or self._basic:
                return False
            self._basic = True
            return True
        if scheme != "bearer" or "realm" not in params or (scope or "") in self._fresh:
            return False
        if self.pool is not None:
            if len(self.pool.challenges) >= _TOKEN_CACHE_MAX:
                self.pool.challenges.clear()
            self.pool.challenges[self.upstream.base_url] = params
        await self._new_token(params, scope)
        return True

    async def _token_ahead(self, scope: str | None) -> None:
        """A repository without a token yet, of a registry that named its token service before:
        the token straight from there, sparing the round trip whose 401 would send Wharf there
        (a cold pull of an image pulls a new repository). Whatever goes wrong leaves it to the
        challenge."""
        if scope is None or self.pool is None or scope in self._fresh:
            return
        challenge = self.pool.challenges.get(self.upstream.base_url)
        if challenge is None or self._authorization(scope) is not None:
            return
        try:
            await self._new_token(challenge, scope)
        except UpstreamError:
            self.pool.challenges.pop(self.upstream.base_url, None)

    async def _new_token(self, params: dict[str, str], scope: str | None) -> None:
        token, lifetime_s = await self._token(params, scope)
        self._tokens[scope or ""] = token
        self._fresh.add(scope or "")
        if self.shared_tokens is not None:
            if len(self.shared_tokens) >= _TOKEN_CACHE_MAX:
                self.shared_tokens.clear()
            # renewed a little before it runs out, as Quay does, to spare the 401 round trip
            self.shared_tokens[self._token_key(scope or "")] = (token, time.monotonic() + lifetime_s - 10)

    async def _token(self, params: dict[str, str], scope: str | None) -> tuple[str, float]:
        """A token for `scope` and how many seconds it lasts (at most an hour)."""
        import httpx

        query: dict[str, str] = {}
        if "service" in params:
            query["service"] = params["service"]
        if scope is not None:
            query["scope"] = f"repository:{scope}:pull"
        realm = str(httpx.URL(params["realm"]).copy_merge_params(query))
        headers = {"Authorization": self._basic_header()} if self.upstream.username is not None else {}
        response = await self._follow("GET", realm, None, headers, authorize=False)
        try:
            if response.status_code in (401, 403):
                raise UpstreamError("the upstream refused the credentials", response.status_code)
            self._expect_ok(response, "a token")
            body = await _read_limited(response, 1024 * 1024)
        finally:
            await response.aclose()
        import json

        try:
            answer: Any = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
            lifetime = answer.get("expires_in", DEFAULT_TOKEN_LIFETIME_S)
        except (ValueError, AttributeError):
            token, lifetime = None, 0
        if not isinstance(token, str) or not token:
            raise UpstreamError("the upstream's token service answered no token")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
            lifetime = DEFAULT_TOKEN_LIFETIME_S
        return token, float(min(max(lifetime, 0), 3600))

    @staticmethod
    def _expect_ok(response: httpx.Response, what: str) -> None:
        if response.status_code == 200:
            return
        if response.status_code == 404:
            raise UpstreamError(f"the upstream has no {what}", 404)
        raise UpstreamError(f"the upstream answered {response.status_code} for {what}", response.status_code)


async def checked_target(settings: Settings, url: str, proxy: str | None) -> _Pinned:
    """The outbound guard on `url` (and on the proxy it goes through): where to send it. Every
    caller of another registry goes through here (the mirrors' and proxy caches' client below,
    organization mirroring's listings in org_registries.py), so that none connects anywhere the
    guard did not see.

    Straight to the host, the request goes to an address the check saw (a name that resolves
    again to another address, DNS rebinding, is not asked again). Through a proxy, it names the
    host and the proxy connects (a CONNECT tunnel's TLS must see the name: httpx verifies the
    certificate against the tunnel's target); the name was checked to resolve to public or
    allowed addresses just before. A `socks5://` proxy is given the address the guard checked
    (the client resolves, as the scheme says; TLS still sees the name), a `socks5h://` one the
    name (the proxy resolves). The proxy's own address passes the same guard: an internal one
    only when SSRF_ALLOWED_HOSTS allows it. OutboundRefused propagates; a name that does not
    resolve is an UpstreamError (the upstream is unreachable, not refused)."""
    try:
        addresses = await check_url(url, settings)
        if proxy is None:
            return _pinned(url, addresses)
        await check_url(guard_url(proxy), settings)
    except OutboundFailed as e:
        raise UpstreamError(str(e)) from None
    return _pinned(url, addresses if proxy.startswith("socks5://") else [])


def _plain_url(url: str) -> str:
    """The same URL over plain HTTP (the port stays: a registry on :5000 stays on :5000)."""
    return "http://" + url.removeprefix("https://") if url.startswith("https://") else url


def _failure(method: str, url: str, error: Exception) -> str:
    """What failed, saying so plainly when it was the certificate check (the usual cause: a
    self-signed or private CA's certificate, which `verify_tls: false` accepts)."""
    import ssl

    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        reason = cause.verify_message or str(cause)
        return f"{method} {url} failed: the upstream's TLS certificate is not trusted ({reason})"
    return f"{method} {url} failed: {type(error).__name__}: {error}"


_DRAIN_MAX = 64 * 1024


async def _done_with(response: httpx.Response) -> None:
    """Close an answer whose body is not wanted, reading a short one first: a connection goes
    back to the pool only once its last answer was read to the end (else it is closed)."""
    import httpx

    try:
        declared = response.headers.get("content-length")
        short = declared is not None and declared.isdigit() and int(declared) <= _DRAIN_MAX
        unread = not response.is_stream_consumed and not response.is_closed
        if unread and (short or response.request.method == "HEAD"):  # a HEAD's answer has no body
            await response.aread()
    except httpx.HTTPError:
        pass  # the connection is closed: nothing else is lost
    finally:
        await response.aclose()


def _http_errors() -> tuple[type[Exception], ...]:
    import httpx

    return (httpx.HTTPError,)


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    import httpx

    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise UpstreamError(f"the upstream's answer is larger than {limit} bytes")
    except httpx.HTTPError as e:
        raise UpstreamError(f"reading the upstream's answer failed: {e}") from None
    return bytes(body)

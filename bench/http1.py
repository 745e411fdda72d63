"""A minimal HTTP/1.1 client with keep-alive, for the load scenario's many concurrent clients.

httpx's async client cost about 2.4 ms of CPU per request on the 2-core machine, more than the
servers under test spent answering it, so 64 clients measured mostly the client. This one does
what the load scenario needs and no more: http:// only, one kept-alive connection per origin,
Content-Length and chunked bodies, redirects. It costs a small fraction of that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as this client understands it."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    url: str
    method: str
    length: int = -1  # bytes of body received; the body itself is empty when it was discarded

    def __post_init__(self) -> None:
        if self.length < 0:
            self.length = len(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False  # a reused connection may have been closed by the server while idle

    def close(self) -> None:
        self.writer.close()


class Client:
    """One client: at most one open connection per origin, reused from request to request."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._conns: dict[tuple[str, int], _Connection] = {}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        follow_redirects: bool = False,
        discard: bool = False,
    ) -> Response:
        """`discard`: read the body and count its bytes (Response.length) without keeping it."""
        url = url if url.startswith("http") else self.base_url + url
        headers = dict(headers or {})
        async with asyncio.timeout(self.timeout):
            r = await self._send(method, url, headers, body, discard)
            hops = 0
            while follow_redirects and r.status in REDIRECTS and "location" in r.headers:
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise ProtocolError(f"more than {MAX_REDIRECTS} redirects from {url}")
                target = urljoin(r.url, r.headers["location"])
                if _origin(target) != _origin(r.url):
                    # The registry's token is for the registry, not for the object store.
                    headers.pop("Authorization", None)
                if r.status == 303 or (r.status in (301, 302) and method == "POST"):
                    method, body = "GET", b""
                r = await self._send(method, target, headers, body, discard)
            return r

    async def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = False,
        discard: bool = False,
    ) -> Response:
        return await self.request("GET", url, headers, follow_redirects=follow_redirects, discard=discard)

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes, discard: bool = False
    ) -> Response:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ProtocolError(f"only http:// is supported: {url}")
        origin = _origin(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        conn = self._conns.get(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, origin, method, url, head, body, discard)
            except _Stale:
                pass  # the server closed the idle connection: one more try on a new one
        reader, writer = await asyncio.open_connection(*origin)
        conn = self._conns[origin] = _Connection(reader, writer)
        return await self._exchange(conn, origin, method, url, head, body, discard)

    async def _exchange(
        self,
        conn: _Connection,
        origin: tuple[str, int],
        method: str,
        url: str,
        head: bytes,
        body: bytes,
        discard: bool = False,
    ) -> Response:
        try:
            try:
                # Head and body in one write, so that a small request leaves in one segment.
                conn.writer.write(head + body)
                await conn.writer.drain()
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                partial = isinstance(e, asyncio.IncompleteReadError) and e.partial
                if conn.used and not partial:
                    raise _Stale from e
                raise
            status, headers = _parse_head(raw)
            chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            sized = "content-length" in headers and not chunked
            if discard and sized and method != "HEAD" and status >= 200 and status not in (204, 304):
                length = await _skip(conn.reader, int(headers["content-length"]))
                payload: bytes | None = b""
            else:
                payload = await _read_body(conn.reader, method, status, headers)
                length = -1
            until_close = payload is None
            if payload is None:
                payload = await conn.reader.read()
        except BaseException:
            conn.close()
            self._conns.pop(origin, None)
            raise
        conn.used = True
        if until_close or headers.get("connection", "").lower() == "close":
            conn.close()
            self._conns.pop(origin, None)
        return Response(status, headers, payload, url, method, length)


async def _skip(reader: asyncio.StreamReader, size: int) -> int:
    """Read and drop `size` bytes; returns how many came before the end of the stream."""
    left = size
    while left:
        chunk = await reader.read(min(left, 1 << 20))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(chunk)
    return size


class _Stale(Exception):
    """A kept-alive connection the server had closed: nothing of the answer was read."""


def _origin(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 80


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line: {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return int(status_line[1]), headers


async def _read_body(
    reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str]
) -> bytes | None:
    """The body; None when it runs until the server closes the connection."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers, if any, end with an empty line like the headers.
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return None

"""Bounds on what one HTTP connection may hold: header time and size, and body idle time.

uvicorn closes a connection idle between requests after `timeout_keep_alive`, but nothing bounds
a request whose headers arrive a byte at a time (slowloris: thousands of such connections hold a
file descriptor and a buffer each, forever), headers that never end (httptools buffers them all),
or a body that stops arriving (the request waits in `receive()` forever). So:

- `HttpToolsProtocol` is uvicorn's httptools protocol with a header deadline: from the moment a
  connection opens, or a response completes, the next request's headers must be complete within
  HTTP_HEADER_TIMEOUT_S and HTTP_MAX_HEADER_BYTES, else the connection is closed (408 or 431).
- It also offers the application zero-copy file bodies (`SENDFILE`, below): uvloop, which serves
  us, has no `loop.sendfile`, and uvicorn does not implement the `http.response.pathsend`
  extension, so the protocol sends them itself with sendfile(2).
- It writes a small response's head and body in one write (`COALESCE_MAX`), where uvicorn makes
  two: one send(2) per token, manifest or tag page instead of two.
- `BodyIdleTimeout` is ASGI middleware: a request body that sends nothing for
  HTTP_BODY_IDLE_TIMEOUT_S is answered 408 with `Connection: close` (which makes uvicorn close the
  connection), and the application sees the client as gone.

A client that speaks TLS to this plain-HTTP port (podman or skopeo without --tls-verify=false) gets
its connection closed, and the log one line that says so, in place of uvicorn's "Invalid HTTP
request received." that names neither the cause nor the client.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _UvicornHttpTools
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.protocols.utils import is_ssl

from wharf.config import Settings
from wharf.http_ext import SENDFILE

log = logging.getLogger("wharf.http")


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    timeout_s: float = 30
    max_bytes: int = 64 * 1024


# Set in each server process by `configure` (cli.asgi_factory) before any connection is accepted.
_limits = HeaderLimits()


def configure(settings: Settings) -> None:
    global _limits
    _limits = HeaderLimits(settings.HTTP_HEADER_TIMEOUT_S, settings.HTTP_MAX_HEADER_BYTES)


def _plain(status: bytes, message: str) -> bytes:
    body = message.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


SENDFILE_CHUNK = 1024 * 1024
"""Bytes per sendfile(2) call; other connections get the event loop between calls. It also bounds
how long a read of bytes not in the page cache holds the loop."""

_GONE = frozenset({errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.ETIMEDOUT})


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


_Send = Callable[[Any], Coroutine[Any, Any, None]]


async def _sendfile(cycle: RequestResponseCycle, send: _Send, message: Any) -> None:
    """Send `message` (a SENDFILE) as the body of `cycle`'s response, then end it as uvicorn does."""
    fd, offset, count = int(message["file"]), int(message["offset"]), int(message["count"])
    if not cycle.response_started or cycle.response_complete:
        raise RuntimeError(f"{SENDFILE} must follow http.response.start and end the response")
    if cycle.chunked_encoding or count != cycle.expected_content_length:
        raise RuntimeError(f"{SENDFILE} must carry the whole body its Content-Length declares")
    if cycle.scope["method"] != "HEAD":
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        sent = await _send_file(cycle, fd, offset, count)
        if sent < count:
            if cycle.disconnected or cycle.transport.is_closing():
                cycle.disconnected = True  # the client is gone, or going: nothing more to send
                return
            cycle.transport.close()
            raise RuntimeError(f"the file ended after {sent} of the {count} bytes to send")
        cycle.expected_content_length = 0
    # uvicorn ends the response: keep-alive or close, then the next request on the connection.
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_file(cycle: RequestResponseCycle, fd: int, offset: int, count: int) -> int:
    """Write `count` bytes of `fd` from `offset` to the connection's socket; how many went."""
    transport = cycle.transport
    loop = asyncio.get_running_loop()
    # The transport owns the socket's descriptor in the event loop; a duplicate can wait for the
    # socket to be writable on its own.
    out = os.dup(transport.get_extra_info("socket").fileno())
    try:
        # The status line and headers first: uvloop writes what the transport holds at the end of
        # the loop's iteration, or as the socket drains.
        waited = False
        while transport.get_write_buffer_size():
            if cycle.disconnected or transport.is_closing():
                return 0
            await (_writable(loop, out) if waited else asyncio.sleep(0))
            waited = True
        sent = 0
        while sent < count:
            if cycle.disconnected or transport.is_closing():
                break
            want = min(count - sent, SENDFILE_CHUNK)
            try:
                n = os.sendfile(out, fd, offset + sent, want)
            except BlockingIOError:
                await _writable(loop, out)
                continue
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                cycle.disconnected = True  # as uvicorn marks it once the loop sees the connection lost
                transport.close()
                break
            if n == 0:
                break  # the file is shorter than promised
            sent += n
            if n < want:
                await _writable(loop, out)  # the socket's buffer is full
            else:
                await asyncio.sleep(0)  # other connections' turn
        return sent
    finally:
        os.close(out)


COALESCE_MAX = 64 * 1024
"""A response whose whole body is at most this many bytes leaves in one write with its head."""


class _HeldHead:
    """Stands in for the connection's transport from a response's start to its next message, so
    that a small response goes out in one write instead of two (status line and headers, then the
    body): one send(2), one segment for the client to wake up for. While `capturing` (inside
    uvicorn's send) writes are kept; anything else flushes what is kept before it happens."""

    __slots__ = ("capturing", "parts", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parts: list[bytes] = []
        self.capturing = False

    def write(self, data: bytes) -> None:
        if self.capturing:
            self.parts.append(data)
        else:
            self.flush()
            self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def flush(self) -> None:
        if self.parts:
            data = b"".join(self.parts)
            self.parts.clear()
            if not self.transport.is_closing():
                self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _coalescing(cycle: RequestResponseCycle, sendfile: bool) -> _Send:
    """`cycle.send`, sending the head of a response with its body when that is one small message,
    and SENDFILE messages (`sendfile`) by _sendfile."""
    send = cycle.send
    held: _HeldHead | None = None

    async def send_coalesced(message: Any) -> None:
        nonlocal held
        kind = message["type"]
        if held is None:
            if kind == "http.response.start" and not cycle.response_started:
                held = _HeldHead(cycle.transport)
                cycle.transport = held  # type: ignore[assignment]
                held.capturing = True
                try:
                    await send(message)
                finally:
                    held.capturing = False
                return
            if sendfile and kind == SENDFILE:
                await _sendfile(cycle, send, message)
            else:
                await send(message)
            return
        head, held = held, None
        whole = kind == "http.response.body" and not message.get("more_body", False)
        if whole and len(message.get("body", b"")) <= COALESCE_MAX:
            head.capturing = True
            try:
                await send(message)
            finally:
                head.capturing = False
                cycle.transport = head.transport
                head.flush()  # (uvicorn's close of a connection that does not stay open flushed already)
            return
        cycle.transport = head.transport
        head.flush()
        await send_coalesced(message)

    return send_coalesced


class HttpToolsProtocol(_UvicornHttpTools):
    """uvicorn's httptools protocol, with a deadline and a size limit on each request's headers,
    and zero-copy file bodies (SENDFILE)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = _limits
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = False
        self._sendfile = False
        self._spoke = False  # whether the client has sent anything yet

    def _refuse_tls(self) -> None:
        self._disarm_header_timer()
        host = self.client[0] if self.client else "unknown"
        log.warning(
            "a client (%s) spoke TLS to this plain-HTTP port: it needs http:// URLs "
            "(podman, skopeo: --tls-verify=false), or a TLS-terminating proxy in front of Wharf",
            host,
        )
        self.transport.close()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_bytes = 0
            self._in_headers = True
            self._header_timer = self.loop.call_later(self._limits.timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _refuse(self, status: bytes, message: str) -> None:
        self._disarm_header_timer()
        if self.transport.is_closing():
            return
        if self._idle():  # no response of an earlier request is being written
            self.transport.write(_plain(status, message))
        self.transport.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._refuse(b"408 Request Timeout", "the request headers took too long\n")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        self._sendfile = sock is not None and not is_ssl(transport) and hasattr(os, "sendfile")
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._spoke and _is_tls_hello(data):
            self._refuse_tls()
            return
        self._spoke = True
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_headers and self._header_bytes > self._limits.max_bytes:
            self._refuse(b"431 Request Header Fields Too Large", "the request headers are too large\n")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._sendfile:
            self.scope["extensions"] = {SENDFILE: {}}
        self._arm_header_timer()  # a pipelined request, or the first byte after a keep-alive wait

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        cycle.send = _coalescing(cycle, self._sendfile)  # type: ignore[method-assign,assignment]
        super()._start_asgi_task(cycle, app)

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        waiting = not self.pipeline
        super().on_response_complete()
        if waiting and not self.transport.is_closing():
            self._arm_header_timer()


def _is_tls_hello(data: bytes) -> bool:
    """A TLS record of type handshake (22), version 3.x: how every TLS connection starts. No HTTP
    request starts with byte 22."""
    return len(data) >= 2 and data[0] == 0x16 and data[1] == 0x03


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyIdleTimeout:
    """ASGI middleware: a request body silent for `timeout_s` ends the request with 408 and closes
    the connection. `render(scope)` gives the 408's content type and body (each surface's own)."""

    def __init__(
        self, app: ASGIApp, timeout_s: float, render: Callable[[Scope, float], tuple[str, bytes]]
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        more_body = True
        started = False
        timed_out = False

        async def receive_bounded() -> Message:
            nonlocal more_body, timed_out
            if not more_body or timed_out:
                return await receive() if not timed_out else {"type": "http.disconnect"}
            try:
                async with asyncio.timeout(self.timeout_s):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:
                    content_type, body = self.render(scope, self.timeout_s)
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 408,
                            "headers": [
                                (b"content-type", content_type.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                more_body = message.get("more_body", False)
            return message

        async def send_unless_timed_out(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the 408 went out; the application's answer to a gone client is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, receive_bounded, send_unless_timed_out)


def body_timeout_message(timeout_s: float) -> str:
    return f"the request body sent nothing for {timeout_s:g} seconds (HTTP_BODY_IDLE_TIMEOUT_S)"

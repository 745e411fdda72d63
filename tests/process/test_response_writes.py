"""Our uvicorn protocol (serving.py) writes a small response, head and body, to the connection in
one write; a large or streamed body still follows its head in writes of its own, and the head of
a response whose application fails before the body still goes out before the connection closes.

The protocol serves a small ASGI application on a real socket; the connection's transport is
wrapped to record the writes it is asked for."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from wharf.serving import COALESCE_MAX, HttpToolsProtocol


class _RecordedWrites:
    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    size = {"/small": 100, "/large": COALESCE_MAX + 1, "/streamed": 10, "/fails": 10}[path]
    body = b"x" * size
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(size).encode())]}
    )
    if path == "/fails":
        raise RuntimeError("the application fails after the head")
    if path == "/streamed":
        await send({"type": "http.response.body", "body": body[:5], "more_body": True})
        await send({"type": "http.response.body", "body": body[5:]})
        return
    await send({"type": "http.response.body", "body": body})


async def _exchange(path: str, *, keep_alive: bool = True) -> tuple[list[bytes], bytes]:
    """The writes the server made for one GET of `path`, and what the client received."""
    writes: list[bytes] = []
    config = uvicorn.Config(_app, log_level="critical", lifespan="off")
    config.load()
    state = ServerState()

    class Recorded(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_RecordedWrites(transport, writes))  # type: ignore[arg-type]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Recorded(config, state, {}), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = b"keep-alive" if keep_alive else b"close"
        writer.write(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: " + connection + b"\r\n\r\n"
        )
        await writer.drain()
        if keep_alive and path != "/fails":
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            received = head + await asyncio.wait_for(reader.readexactly(length), 30)
        else:
            received = await asyncio.wait_for(reader.read(), 30)  # until the server closes
        writer.close()
        return writes, received
    finally:
        server.close()


async def test_a_small_response_leaves_in_one_write() -> None:
    writes, received = await _exchange("/small")
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n" + b"x" * 100)
    assert received == writes[0]


async def test_a_small_response_on_a_closing_connection_leaves_in_one_write() -> None:
    writes, received = await _exchange("/small", keep_alive=False)
    assert len(writes) == 1
    assert b"connection: close\r\n" in writes[0]
    assert received == writes[0]


async def test_large_and_streamed_bodies_follow_their_head() -> None:
    writes, received = await _exchange("/large")
    assert len(writes) == 2
    assert writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == b"x" * (COALESCE_MAX + 1)
    assert received == b"".join(writes)

    writes, received = await _exchange("/streamed")
    assert writes[0].endswith(b"\r\n\r\n")
    assert b"".join(writes[1:]) == b"x" * 10
    assert received == b"".join(writes)


async def test_the_head_goes_out_when_the_application_fails_after_it() -> None:
    writes, received = await _exchange("/fails")
    assert len(writes) == 1
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"\r\n\r\n")

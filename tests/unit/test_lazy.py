"""BuiltOnFirstUse: an ASGI application built on its first request, once."""

from __future__ import annotations

import asyncio
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wharf.lazy import BuiltOnFirstUse


async def test_requests_arriving_together_build_the_application_once() -> None:
    builds = 0
    release = threading.Event()

    async def inner(scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    def build() -> ASGIApp:
        nonlocal builds
        builds += 1
        assert release.wait(60), "the test never released the build"
        return inner

    lazy = BuiltOnFirstUse(build)
    entered = 0

    async def request(i: int) -> bytes:
        nonlocal entered
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        entered += 1
        await lazy({"type": "http", "path": f"/{i}"}, receive, send)
        return bytes(sent[-1]["body"])

    tasks = [asyncio.create_task(request(i)) for i in range(8)]
    while entered < len(tasks):  # noqa: ASYNC110  (yield until every request waits for the build)
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [f"/{i}".encode() for i in range(8)]
    assert builds == 1
    # Later requests use the built application directly.
    assert await request(9) == b"/9"
    assert builds == 1

"""An ASGI application built on its first request: a process imports only the surfaces it serves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class BuiltOnFirstUse:
    """Builds the application when its first request arrives, so that a process that never serves
    it never imports it. It is built once, in a thread (the imports take a moment, and the event
    loop keeps serving meanwhile), even when several first requests arrive together."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def built(self) -> ASGIApp:
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            app = await asyncio.to_thread(self.built)
        await app(scope, receive, send)

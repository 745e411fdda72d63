"""Which runtime an /api/v1 request is served for.

The FastAPI application is built once per process and shared by every runtime in it: FastAPI
analyses each route's dependencies on the first request an application routes (about a second
for Wharf's routes), which a test suite building hundreds of applications would pay each time.
The runtime therefore travels in the request's ASGI scope, put there by `ForRuntime`, rather
than in `app.state`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from wharf.runtime import Runtime

RUNTIME_KEY = "wharf.runtime"


class ForRuntime:
    """The shared /api/v1 application, serving one runtime's requests."""

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[RUNTIME_KEY] = self.rt
        await self.app(scope, receive, send)


def runtime_of(connection: HTTPConnection) -> Runtime | None:
    rt: Runtime | None = connection.scope.get(RUNTIME_KEY)
    return rt

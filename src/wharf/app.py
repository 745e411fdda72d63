"""build_app(settings): one ASGI application with /v2, /api/v1, /health and the web UI.

The top level is a plain ASGI dispatcher rather than a Starlette Mount so that registry traffic,
the hot path, reaches its handler with no routing layers in between.

A process imports only what it uses: the /api/v1 application (FastAPI, its models and routers)
and the web UI's pages (Jinja2, Markdown) are built on the first request to each, and optional
parts (S3, SMTP, outbound HTTP, Alembic) are imported where they are used; /v2, /health and
/metrics need none of them. tests/process/test_lazy_imports.py keeps it so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Coroutine
from functools import partial
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from wharf import health as quay_health
from wharf import memory, metrics, serving
from wharf.config import Settings
from wharf.core import log_exports, queue, uploads
from wharf.core.errors import NotFound
from wharf.db import revision
from wharf.db.engine import Db
from wharf.jobs import runner
from wharf.lazy import BuiltOnFirstUse
from wharf.observe import RequestObserver
from wharf.registry.app import RegistryApp
from wharf.registry.errors import BODY_TIMEOUT, RegistryError
from wharf.runtime import Runtime
from wharf.web.app import build_web


def _cluster_gauges(db: Db) -> tuple[dict[str, int], int]:
    return queue.depth(db), uploads.open_count(db)


def _service_routes(rt: Runtime) -> list[BaseRoute]:
    async def answer(checks: dict[str, bool], good: str, bad: str) -> JSONResponse:
        """Add the storage check; 200 when every check passed, else 503."""
        checks["storage"] = False
        with contextlib.suppress(Exception):
            checks["storage"] = await rt.store.healthy()
        ok = all(checks.values())
        return JSONResponse({"status": good if ok else bad, "checks": checks}, status_code=200 if ok else 503)

    async def health(_request: Request) -> JSONResponse:
        checks = {"database": False}
        with contextlib.suppress(Exception):
            await rt.db.read(lambda db: db.execute(text("SELECT 1")))
            checks["database"] = True
        return await answer(checks, "ok", "unhealthy")

    async def ready(_request: Request) -> JSONResponse:
        """Readiness: the database answers with the current schema, and storage works."""
        checks = {"database": False, "migrations": False}
        try:
            checks["migrations"] = await rt.db.read(revision.current) == revision.HEAD
            checks["database"] = True
        except Exception:  # no alembic_version table, or no database: which one?
            with contextlib.suppress(Exception):
                await rt.db.read(lambda db: db.execute(text("SELECT 1")))
                checks["database"] = True
        return await answer(checks, "ready", "not ready")

    async def quay_shaped(kind: str, _request: Request) -> JSONResponse:
        """Quay's /health/instance, /health/endtoend and /health/warning (wharf/health.py)."""
        body, status = await quay_health.report(rt, kind)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    async def prometheus(_request: Request) -> Response:
        depth: dict[str, int] | None = None
        open_uploads: int | None = None
        with contextlib.suppress(Exception):  # the node's own figures are worth serving anyway
            depth, open_uploads = await rt.db.read(_cluster_gauges)
        # Reading every worker's metric files is file I/O: off the event loop in multiprocess mode.
        body = (
            await asyncio.to_thread(metrics.exposition, depth, open_uploads)
            if metrics.multiprocess_dir()
            else metrics.exposition(depth, open_uploads)
        )
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def exported_logs(request: Request) -> Response:
        """The file of a log export, for whoever holds its signed link until the link expires."""
        try:
            export, path = await rt.db.read(
                log_exports.download_path, rt.secrets, request.path_params["token"]
            )
        except log_exports.LinkExpired as e:
            return JSONResponse({"error": "expired", "detail": str(e)}, status_code=410)
        except NotFound as e:
            return JSONResponse({"error": "not_found", "detail": str(e)}, status_code=404)
        size = await rt.store.stat(path)
        if size is None:
            return JSONResponse({"error": "expired", "detail": log_exports.FILE_REMOVED}, status_code=410)
        headers = {
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="usage-logs-{export.uuid}.json"',
            "Cache-Control": "private, no-store",
        }
        return StreamingResponse(rt.store.read(path), media_type="application/json", headers=headers)

    async def build_signing_key(_request: Request) -> Response:
        """The public key that verifies the provenance of built images (docs/builds.md); made on
        the first request if no build made it yet, so what is published is what will sign."""
        from wharf.services import build_attestations  # cryptography: not for every process

        pem = await asyncio.to_thread(build_attestations.public_key, rt.settings, rt.secrets)
        return Response(pem, media_type="application/x-pem-file", headers={"Cache-Control": "no-cache"})

    return [
        Route("/health", health, methods=["GET", "HEAD"]),
        Route("/health/ready", ready, methods=["GET", "HEAD"]),
        *(
            Route(f"/health/{kind}", partial(quay_shaped, kind), methods=["GET", "HEAD"])
            for kind in quay_health.KINDS
        ),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/exportedlogs/{token}", exported_logs, methods=["GET"]),
        Route("/build-signing-key.pub", build_signing_key, methods=["GET"]),
    ]


# Served by the API application: /api/v1 and the auth flows that Quay keeps beside it, except
# the OAuth consent page, which people read (web/pages/oauth.py).
_API_PREFIXES = ("/api/", "/oauth/", "/oauth2/", "/c1/", "/userfiles/", "/webhooks/")
_WEB_PAGES_UNDER_API_PREFIXES = frozenset({"/oauth/authorize", "/oauth/authorizeapp"})
# Sign-in with an external provider: the browser is sent there and back (web/pages/external_login.py).
# GitHub's, GitLab's and Bitbucket's return to a build trigger being connected is a page too
# (web/pages/build_triggers.py).
_EXTERNAL_LOGIN_PAGE = re.compile(
    r"^/oauth2/([a-z0-9_]+/(start|callback)|github/callback/trigger/.+|(gitlab|bitbucket)/callback/trigger)$"
)
# Quay serves these beside /api/v1, for its web client.
_API_PAGES = frozenset({"/csrf_token", "/config"})


@contextlib.asynccontextmanager
async def _background(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    task = asyncio.create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _body_timeout_answer(scope: Scope, timeout_s: float) -> tuple[str, bytes]:
    """The 408 for a stalled request body, in the error shape of the surface it was sent to."""
    path: str = scope.get("path", "")
    message = serving.body_timeout_message(timeout_s)
    if path == "/v2" or path.startswith("/v2/"):
        return "application/json", json.dumps(RegistryError(BODY_TIMEOUT, message).body()).encode()
    if path.startswith(_API_PREFIXES):
        from wharf.api.errors import ApiError

        body = ApiError(408, "invalid_request", message).body(Request(scope))
        return "application/json", json.dumps(body).encode()
    return "text/plain; charset=utf-8", message.encode()


def _api(rt: Runtime) -> ASGIApp:
    from wharf.api.app import for_runtime  # FastAPI and every /api/v1 model: ~15 MiB

    return for_runtime(rt)


class WharfApp:
    def __init__(self, rt: Runtime, run_workers: bool) -> None:
        self.rt = rt
        self.run_workers = run_workers
        self.registry = RegistryApp(rt)
        self.api = BuiltOnFirstUse(partial(_api, rt))
        self.web = build_web(rt, _service_routes(rt))
        self._stack: contextlib.AsyncExitStack | None = None
        bounded = serving.BodyIdleTimeout(
            self._route, rt.settings.HTTP_BODY_IDLE_TIMEOUT_S, _body_timeout_answer
        )
        self._observed = RequestObserver(bounded)
        self.quiet_trim = memory.QuietTrim()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        self.quiet_trim.started()
        try:
            await self._observed(scope, receive, send)
        finally:
            self.quiet_trim.finished()

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == "/v2" or path.startswith("/v2/")):
            await self.registry(scope, receive, send)
            return
        if (
            path.startswith(_API_PREFIXES)
            and path not in _WEB_PAGES_UNDER_API_PREFIXES
            and not _EXTERNAL_LOGIN_PAGE.match(path)
        ) or path in _API_PAGES:
            await self.api(scope, receive, send)
            return
        await self.web(scope, receive, send)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # Unwound in reverse: the workers and the log buffer stop before the database closes.
            stack.push_async_callback(self.rt.close)
            await stack.enter_async_context(_background(self.rt.audit_buffer.run(), "wharf-audit-buffer"))
            # What a burst of requests freed goes back to the system once the server is quiet.
            await stack.enter_async_context(_background(self.quiet_trim.run(), "wharf-quiet-trim"))
            if self.run_workers:
                await stack.enter_async_context(runner.in_background(self.rt))
            yield

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.running())
        except Exception as e:
            await send({"type": "lifespan.startup.failed", "message": str(e)})
            return
        await send({"type": "lifespan.startup.complete"})
        memory.trim()
        message = await receive()
        await stack.aclose()
        metrics.process_exited()
        await send({"type": "lifespan.shutdown.complete"})


def build_app(settings: Settings, run_workers: bool | None = None) -> WharfApp:
    rt = Runtime.create(settings)
    return WharfApp(rt, settings.WORKERS_IN_PROCESS if run_workers is None else run_workers)

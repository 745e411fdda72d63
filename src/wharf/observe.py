"""Request ids, request metrics and structured (JSON) logs.

Every request gets an id: the client's `X-Request-ID` when it is a sane token, else a new one. The
id is returned in the response's `X-Request-ID`, set in a context variable for the duration of the
request, and added to every log line written meanwhile, so a user's error report ("request
3f2c...") leads to the server's log lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wharf import metrics
from wharf.http_ext import SENDFILE

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("wharf_request_id", default=None)

access_log = logging.getLogger("wharf.access")


def route_label(scope: Scope) -> str:
    """A low-cardinality name for the route a request took."""
    path: str = scope.get("path", "")
    if path.startswith("/v2"):
        return _v2_route(path)
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        # FastAPI records the router's own route, without the prefix it was included under.
        if path.startswith("/api/v1/") and not template.startswith("/api/"):
            return "/api/v1" + template
        return template
    return "other"


class RequestObserver:
    """ASGI middleware: request id, counters and latency per route and status, bytes in and out,
    and one access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = _header(scope, REQUEST_ID_HEADER.encode())
        rid = presented if presented and _SANE_ID.match(presented) else secrets.token_hex(12)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        bytes_in = 0
        bytes_out = 0

        async def receive_counted() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def send_observed(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            elif message["type"] == SENDFILE:
                bytes_out += message["count"]
            await send(message)

        try:
            await self.app(scope, receive_counted, send_observed)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            method = scope.get("method", "GET")
            if method not in _METHODS:
                method = "OTHER"  # clients choose methods: never let them choose label values
            series = _series_of(method, route, status)
            series.requests.inc()
            series.latency.observe(elapsed)
            if bytes_in:
                series.bytes_in.inc(bytes_in)
            if bytes_out:
                series.bytes_out.inc(bytes_out)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    method,
                    scope.get("path", ""),
                    status,
                    extra={
                        "http": {
                            "method": method,
                            "path": scope.get("path", ""),
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                            "bytes_in": bytes_in,
                            "bytes_out": bytes_out,
                            "client": client[0] if client else None,
                        }
                    },
                )
            request_id.reset(token)


def _v2_route(path: str) -> str:
    """/v2 routes by shape, so that metrics have a few labels rather than one per repository
    (string tests: this runs on every request)."""
    if path in ("/v2", "/v2/"):
        return "v2_base"
    if path == "/v2/auth":
        return "v2_auth"
    if path == "/v2/_catalog":
        return "v2_catalog"
    if "/blobs/uploads/" in path or path.endswith("/blobs/uploads"):
        return "v2_upload"
    if "/manifests/" in path:
        return "v2_manifest"
    if "/blobs/" in path:
        return "v2_blob"
    if path.endswith("/tags/list"):
        return "v2_tags"
    if "/referrers/" in path:
        return "v2_referrers"
    return "v2_other"


class _Series:
    """The metric children of one (method, route, status), looked up once: labels() costs more
    than the increment."""

    __slots__ = ("bytes_in", "bytes_out", "latency", "requests")

    def __init__(self, method: str, route: str, status: str) -> None:
        self.requests = metrics.REQUESTS.labels(method, route, status)
        self.latency = metrics.REQUEST_SECONDS.labels(method, route)
        self.bytes_in = metrics.BYTES_IN.labels(route)
        self.bytes_out = metrics.BYTES_OUT.labels(route)


_series: dict[tuple[str, str, int], _Series] = {}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _series_of(method: str, route: str, status: int) -> _Series:
    key = (method, route, status)
    found = _series.get(key)
    if found is None:
        found = _series[key] = _Series(method, route, str(status))
    return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and structured extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            out["request_id"] = rid
        http = getattr(record, "http", None)
        if http is not None:
            out["http"] = http
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """The plain format, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id.get()
        return f"{line} [request {rid}]" if rid is not None else line


def configure_logging(level: str, fmt: str = "text", *, access: bool = True) -> None:
    """Root logging for `wharf serve` and `wharf worker`: `text` or `json` lines on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # SQLAlchemy logs every statement once its loggers are at INFO, which a DEBUG root implies:
    # --log-level debug is for Wharf's own progress lines (GC, sweeps, jobs), not a SQL trace.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    # Access lines are INFO; at the default level they would drown the rest in text mode.
    access_log.setLevel(logging.INFO if access else logging.WARNING)

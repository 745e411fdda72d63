"""A small stand-in for Harbor on loopback, for organization-mirroring tests: the two endpoints of
Harbor's v2 API an organization mirror calls (a project, and its repositories, paged), with Basic
authentication, and /v2 passed through to a real registry (CNCF distribution) that holds the
images, as Harbor serves its registry on the same host as its API."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.distribution import Distribution

_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length"}


class Harbor:
    def __init__(self, registry: Distribution, project: str, user: str, password: str) -> None:
        self.registry, self.project = registry, project
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.api_calls: list[str] = []
        self.deleted: set[str] = set()
        """Repositories (`project/name`) the project no longer lists, as if deleted in Harbor."""
        harbor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                harbor.handle(self, "GET")

            def do_HEAD(self) -> None:
                harbor.handle(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        if parts.path.startswith("/v2/"):
            self._proxy(request, method)
            return
        self.api_calls.append(request.path)
        if request.headers.get("Authorization") != self.expected:
            self._json(request, 401, {"errors": [{"code": "UNAUTHORIZED"}]})
            return
        project_path = f"/api/v2.0/projects/{self.project}"
        if parts.path == project_path:
            self._json(request, 200, {"name": self.project, "project_id": 1})
        elif parts.path == f"{project_path}/repositories":
            query = parse_qs(parts.query)
            page, size = int(query.get("page", ["1"])[0]), int(query.get("page_size", ["10"])[0])
            catalog = httpx.get(f"{self.registry.url}/v2/_catalog", timeout=10).json()["repositories"]
            names = sorted(n for n in catalog if n.startswith(f"{self.project}/") and n not in self.deleted)
            chunk = names[(page - 1) * size : page * size]
            self._json(request, 200, [{"name": n, "artifact_count": 1} for n in chunk])
        else:
            self._json(request, 404, {"errors": [{"code": "NOT_FOUND"}]})

    def _proxy(self, request: BaseHTTPRequestHandler, method: str) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("accept", "authorization")}
        answer = httpx.request(method, f"{self.registry.url}{request.path}", headers=headers, timeout=30)
        request.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP:
                request.send_header(name, value)
        request.send_header("Content-Length", answer.headers.get("content-length", str(len(answer.content))))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(answer.content)

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

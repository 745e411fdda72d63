"""A real, minimal GitHub (Enterprise) for login tests, served over HTTP by a thread: the OAuth 2
web flow (/login/oauth/authorize approves `user` at once and sends the browser back with a
single-use code; /login/oauth/access_token trades it, with the client secret, for an access
token) and the three API calls a login needs under /api/v3/: user, user/emails and user/orgs,
answered only for a token it handed out."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


class GitHub:
    def __init__(self, base_url: str) -> None:
        self.url = base_url
        self.api = base_url + "/api/v3/"
        self.client_id = "Iv1.wharf0123456789"
        self.client_secret = "github-s3cret-of-wharf"
        self.user: dict[str, Any] = {"id": 583231, "login": "octocat", "name": "The Octocat"}
        self.emails: list[dict[str, Any]] = [
            {"email": "octo@old.example.org", "primary": False, "verified": True},
            {"email": "octocat@example.org", "primary": True, "verified": True},
        ]
        self.orgs: list[str] = ["Octo-Org"]
        self.codes: dict[str, dict[str, str]] = {}
        self.tokens: set[str] = set()
        self.requests: list[str] = []
        self.scopes: list[str] = []

    def authorize(self, query: dict[str, str]) -> str:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return redirect_uri + "?" + urlencode({"error": "application_suspended", "state": query["state"]})
        code = secrets.token_hex(10)
        self.codes[code] = {"redirect_uri": redirect_uri}
        self.scopes.append(query.get("scope", ""))
        return redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        # GitHub answers errors with 200 and an `error` field
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return {"error": "incorrect_client_credentials"}
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return {"error": "bad_verification_code"}
        token = "gho_" + secrets.token_hex(16)
        self.tokens.add(token)
        return {"access_token": token, "token_type": "bearer", "scope": "user:email"}

    def api_answer(self, path: str) -> Any:
        if path == "user":
            return self.user
        if path == "user/emails":
            return self.emails
        if path == "user/orgs":
            return [{"login": name, "id": n + 1} for n, name in enumerate(self.orgs)]
        return None


@contextmanager
def running_github() -> Iterator[GitHub]:
    github: GitHub | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert github is not None
            github.requests.append(self.path)
            parts = urlsplit(self.path)
            if parts.path == "/login/oauth/authorize":
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                self.send_response(302)
                self.send_header("Location", github.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not parts.path.startswith("/api/v3/"):
                self._json(404, {"message": "Not Found"})
                return
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in github.tokens:
                self._json(401, {"message": "Bad credentials"})
                return
            body = github.api_answer(parts.path.removeprefix("/api/v3/"))
            self._json(
                200 if body is not None else 404, body if body is not None else {"message": "Not Found"}
            )

        def do_POST(self) -> None:
            assert github is not None
            github.requests.append(self.path)
            if self.path != "/login/oauth/access_token" or "json" not in self.headers.get("Accept", ""):
                self._json(404, {"message": "Not Found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            self._json(200, github.exchange(form))

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    github = GitHub(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield github
    finally:
        server.shutdown()
        server.server_close()

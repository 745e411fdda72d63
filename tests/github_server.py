"""A real, minimal GitHub (Enterprise) for login tests, served over HTTP by a thread: the OAuth 2
web flow (/login/oauth/authorize approves `user` at once and sends the browser back with a
single-use code; /login/oauth/access_token trades it, with the client secret, for an access
token) and, under /api/v3/ and only for a token it handed out, the API calls a login needs (user,
user/emails, user/orgs) and those a build trigger makes: a user's and an organization's
repositories, a repository, its branches, tags and git tree, and adding and removing its deploy
keys and webhooks (kept in `keys` and `hooks`, every call recorded in `calls`). Lists come in pages
of `page_size` (at most the caller's `per_page`) linked by `Link: rel="next"`, as GitHub's do."""

from __future__ import annotations

import base64
import itertools
import json
import re
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
        self.calls: list[tuple[str, str]] = []
        """(method, path) of every API call."""
        self.repos: dict[str, dict[str, Any]] = {}
        self.branches: dict[str, dict[str, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.trees: dict[str, list[str]] = {}
        """A commit's file paths."""
        self.files: dict[str, dict[str, bytes]] = {}
        """The contents of a repository's files (on its default branch), by path."""
        self.keys: dict[str, dict[int, dict[str, Any]]] = {}
        self.hooks: dict[str, dict[int, dict[str, Any]]] = {}
        self._ids = itertools.count(1001)
        self.page_size = 100
        self.failing_deletes = False
        """Answer every DELETE 502, as GitHub does when it is having a bad day."""

    def add_repo(
        self, full_name: str, branches: dict[str, str], files: list[str], tags: dict[str, str] | None = None
    ) -> None:
        """A repository whose first branch is the default one; every commit has `files`."""
        owner, name = full_name.split("/")
        self.repos[full_name] = {
            "id": next(self._ids),
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner},
            "private": True,
            "description": f"The {name} project",
            "default_branch": next(iter(branches)),
            "ssh_url": f"git@127.0.0.1:{full_name}.git",
            "html_url": f"{self.url}/{full_name}",
            "pushed_at": "2026-12-01T10:00:00Z",
        }
        self.branches[full_name] = dict(branches)
        self.tags[full_name] = dict(tags or {})
        for sha in [*branches.values(), *(tags or {}).values()]:
            self.trees[sha] = list(files)
        self.keys[full_name] = {}
        self.hooks[full_name] = {}

    def _owned_by(self, owner: str) -> list[dict[str, Any]]:
        return [r for r in self.repos.values() if r["owner"]["login"].lower() == owner.lower()]

    def repo_answer(self, full_name: str, rest: str) -> Any:
        if full_name not in self.repos:
            return None
        if rest == "":
            return self.repos[full_name]
        if rest == "branches":
            return [{"name": b, "commit": {"sha": sha}} for b, sha in self.branches[full_name].items()]
        if rest.startswith("branches/"):
            sha = self.branches[full_name].get(rest.removeprefix("branches/"))
            return {"name": rest.removeprefix("branches/"), "commit": {"sha": sha}} if sha else None
        if rest == "tags":
            return [{"name": t, "commit": {"sha": sha}} for t, sha in self.tags[full_name].items()]
        if rest.startswith("contents/"):
            return self.contents_answer(full_name, rest.removeprefix("contents/"))
        if rest.startswith("git/trees/"):
            paths = self.trees.get(rest.removeprefix("git/trees/"))
            return None if paths is None else {"tree": [{"path": p, "type": "blob"} for p in paths]}
        return None

    def contents_answer(self, full_name: str, path: str) -> Any:
        files = self.files.get(full_name, {})
        if path in files:
            content = base64.encodebytes(files[path]).decode()  # GitHub wraps it in lines too
            return {"type": "file", "path": path, "encoding": "base64", "content": content}
        inside = [p for p in files if p.startswith(path.rstrip("/") + "/")]
        return [{"type": "file", "path": p} for p in inside] or None

    def create(self, full_name: str, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        if full_name not in self.repos or kind not in ("keys", "hooks"):
            return 404, {"message": "Not Found"}
        store = self.keys if kind == "keys" else self.hooks
        if kind == "keys" and any(k["key"] == body.get("key") for k in store[full_name].values()):
            return 422, {"message": "Validation Failed", "errors": [{"message": "key is already in use"}]}
        ident = next(self._ids)
        store[full_name][ident] = body
        return 201, {"id": ident, **body}

    def remove(self, full_name: str, kind: str, ident: int) -> int:
        store = self.keys if kind == "keys" else self.hooks
        if store.get(full_name, {}).pop(ident, None) is None:
            return 404
        return 204

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
        if path == "user/repos":
            return self._owned_by(str(self.user["login"]))
        if m := re.fullmatch(r"orgs/([^/]+)/repos", path):
            return self._owned_by(m[1]) if m[1] in self.orgs else None
        if m := re.fullmatch(r"repos/([^/]+/[^/]+)/?(.*)", path):
            return self.repo_answer(m[1], m[2])
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
            if not self._authorized():
                return
            github.calls.append(("GET", parts.path))
            body = github.api_answer(parts.path.removeprefix("/api/v3/"))
            if body is None:
                self._json(404, {"message": "Not Found"})
            elif isinstance(body, list):
                self._page(body, parse_qs(parts.query))
            else:
                self._json(200, body)

        def _page(self, found: list[Any], query: dict[str, list[str]]) -> None:
            assert github is not None
            size = min(github.page_size, int(query.get("per_page", ["30"])[-1]))
            page = int(query.get("page", ["1"])[-1])
            links = {}
            if page * size < len(found):
                query = {**query, "page": [str(page + 1)]}
                next_url = f"{github.url}{urlsplit(self.path).path}?{urlencode(query, doseq=True)}"
                links["Link"] = f'<{next_url}>; rel="next"'
            self._json(200, found[(page - 1) * size : page * size], links)

        def _authorized(self) -> bool:
            assert github is not None
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in github.tokens:
                self._json(401, {"message": "Bad credentials"})
                return False
            return True

        def do_DELETE(self) -> None:
            assert github is not None
            path = urlsplit(self.path).path
            m = re.fullmatch(r"/api/v3/repos/([^/]+/[^/]+)/(keys|hooks)/(\d+)", path)
            if not self._authorized():
                return
            github.calls.append(("DELETE", path))
            if m is None:
                status = 404
            elif github.failing_deletes:
                status = 502
            else:
                status = github.remove(m[1], m[2], int(m[3]))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            assert github is not None
            github.requests.append(self.path)
            m = re.fullmatch(r"/api/v3/repos/([^/]+/[^/]+)/(keys|hooks)", self.path)
            if m and self._authorized():
                github.calls.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                self._json(*github.create(m[1], m[2], json.loads(self.rfile.read(length))))
                return
            if m:
                return
            if self.path != "/login/oauth/access_token" or "json" not in self.headers.get("Accept", ""):
                self._json(404, {"message": "Not Found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            self._json(200, github.exchange(form))

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
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

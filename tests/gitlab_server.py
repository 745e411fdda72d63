"""A real, minimal GitLab for build trigger tests, served over HTTP by a thread: the OAuth 2 web
flow (/oauth/authorize approves at once and sends the browser back with a single-use code, which
must come back with the exact registered redirect URI; /oauth/token trades it, or a refresh
token, with the client secret, for an access token that expires after `token_lifetime` seconds)
and, under /api/v4/ and only for a live token, the calls a build trigger makes: the user, their
namespaces, a group's and a user's projects, a project (by its URL-encoded path), its branches,
tags and tree, and adding and removing its deploy keys and webhooks (kept in `keys` and `hooks`,
every call recorded in `calls`). Lists come in pages of `page_size` linked by `Link: rel="next"`.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit


class GitLab:
    def __init__(self, base_url: str) -> None:
        self.url = base_url
        self.client_id = "wharf-gitlab-app"
        self.client_secret = "gitlab-s3cret-of-wharf"
        self.redirect_uri = ""
        """The registered callback: GitLab accepts no other."""
        self.user: dict[str, Any] = {"id": 7, "username": "tanuki", "name": "Tanuki"}
        self.groups: dict[int, str] = {}
        self.codes: dict[str, str] = {}
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.token_lifetime = 7200
        self.scopes: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.branches: dict[str, dict[str, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.trees: dict[str, list[str]] = {}
        self.contents: dict[str, dict[str, bytes]] = {}
        self.keys: dict[str, dict[int, dict[str, Any]]] = {}
        self.hooks: dict[str, dict[int, dict[str, Any]]] = {}
        self.page_size = 100
        self._ids = itertools.count(501)

    def reset(self) -> None:
        for store in (
            self.projects,
            self.branches,
            self.tags,
            self.trees,
            self.contents,
            self.keys,
            self.hooks,
        ):
            store.clear()
        self.tokens.clear()
        self.refresh_tokens.clear()
        self.groups = {}
        self.page_size = 100
        self.token_lifetime = 7200

    def add_project(
        self, full_name: str, branches: dict[str, str], files: list[str], tags: dict[str, str] | None = None
    ) -> None:
        """A project whose first branch is the default one; every commit has `files`. Its
        namespace is the user's when it starts with their username, else a group's."""
        namespace, _, path = full_name.rpartition("/")
        if namespace != self.user["username"] and namespace not in self.groups.values():
            self.groups[next(self._ids)] = namespace
        self.projects[full_name] = {
            "id": next(self._ids),
            "path": path,
            "path_with_namespace": full_name,
            "namespace": {"full_path": namespace},
            "visibility": "private",
            "description": f"The {path} project",
            "default_branch": next(iter(branches)),
            "ssh_url_to_repo": f"git@127.0.0.1:{full_name}.git",
            "web_url": f"{self.url}/{full_name}",
            "last_activity_at": "2026-12-01T10:00:00.000Z",
            "permissions": {"project_access": {"access_level": 40}, "group_access": None},
        }
        self.branches[full_name] = dict(branches)
        self.tags[full_name] = dict(tags or {})
        for sha in [*branches.values(), *(tags or {}).values()]:
            self.trees[sha] = list(files)
        self.keys[full_name] = {}
        self.hooks[full_name] = {}

    def _namespaces(self) -> list[dict[str, Any]]:
        me = {"id": 1, "name": self.user["name"], "path": self.user["username"], "kind": "user"}
        groups = [
            {"id": gid, "name": name, "path": name, "kind": "group"} for gid, name in self.groups.items()
        ]
        return [{**n, "full_path": n["path"], "web_url": f"{self.url}/{n['path']}"} for n in [me, *groups]]

    def _in_namespace(self, namespace: str) -> list[dict[str, Any]]:
        return [p for p in self.projects.values() if p["namespace"]["full_path"] == namespace]

    def project_answer(self, full_name: str, rest: str, query: dict[str, str]) -> Any:
        if full_name not in self.projects:
            return None
        if rest == "":
            return self.projects[full_name]
        if m := re.fullmatch(r"repository/(branches|tags)/?(.*)", rest):
            refs = (self.branches if m[1] == "branches" else self.tags)[full_name]
            if m[2]:
                sha = refs.get(unquote(m[2]))
                return {"name": unquote(m[2]), "commit": {"id": sha}} if sha else None
            return [{"name": name, "commit": {"id": sha}} for name, sha in refs.items()]
        if m := re.fullmatch(r"repository/files/([^/]+)/raw", rest):
            ref = query.get("ref", "")
            sha = self.branches[full_name].get(ref) or self.tags[full_name].get(ref)
            path = unquote(m[1])
            if path not in self.trees.get(sha or "", []):
                return None
            return self.contents.get(full_name, {}).get(path, b"")
        if rest == "repository/tree":
            ref = query.get("ref", "")
            sha = self.branches[full_name].get(ref) or self.tags[full_name].get(ref)
            paths = self.trees.get(sha or "")
            if paths is None:
                return None
            dirs = {p.rsplit("/", 1)[0] for p in paths if "/" in p}
            return [{"path": d, "type": "tree"} for d in sorted(dirs)] + [
                {"path": p, "type": "blob"} for p in paths
            ]
        return None

    def api_answer(self, path: str, query: dict[str, str]) -> Any:
        if path == "user":
            return self.user
        if path == "namespaces":
            return self._namespaces()
        if m := re.fullmatch(r"namespaces/(\d+)", path):
            return next((n for n in self._namespaces() if n["id"] == int(m[1])), None)
        if m := re.fullmatch(r"groups/(\d+)/projects", path):
            group = self.groups.get(int(m[1]))
            return None if group is None else self._in_namespace(group)
        if m := re.fullmatch(r"users/(\d+)/projects", path):
            return self._in_namespace(self.user["username"]) if int(m[1]) == self.user["id"] else None
        if m := re.fullmatch(r"projects/([^/]+)/?(.*)", path):
            return self.project_answer(unquote(m[1]), m[2], query)
        return None

    def create(self, full_name: str, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        if full_name not in self.projects:
            return 404, {"message": "404 Project Not Found"}
        store = self.keys if kind == "deploy_keys" else self.hooks
        if kind == "deploy_keys" and any(k["key"] == body.get("key") for k in store[full_name].values()):
            return 400, {"message": {"deploy_key.fingerprint_sha256": ["has already been taken"]}}
        ident = next(self._ids)
        store[full_name][ident] = body
        return 201, {"id": ident, **body}

    def remove(self, full_name: str, kind: str, ident: int) -> int:
        store = self.keys if kind == "deploy_keys" else self.hooks
        return 204 if store.get(full_name, {}).pop(ident, None) is not None else 404

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect_uri != self.redirect_uri:
            # GitLab shows its own error page for a redirect URI it was not given: no redirect.
            return 400, ""
        code = secrets.token_hex(10)
        self.codes[code] = redirect_uri
        self.scopes.append(query.get("scope", ""))
        return 302, redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})

    def _grant(self) -> dict[str, Any]:
        token, refresh = "glpat-" + secrets.token_hex(16), "glrt-" + secrets.token_hex(16)
        self.tokens.add(token)
        self.refresh_tokens.add(refresh)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "refresh_token": refresh,
            "created_at": 0,
        }

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant"}
            # A refresh token is spent by its use; the access tokens it replaces stop working.
            self.refresh_tokens.discard(form["refresh_token"])
            self.tokens.clear()
            return 200, self._grant()
        redirect_uri = self.codes.pop(form.get("code", ""), None)
        if redirect_uri is None or form.get("redirect_uri") != redirect_uri:
            return 400, {"error": "invalid_grant"}
        return 200, self._grant()


@contextmanager
def running_gitlab() -> Iterator[GitLab]:
    gitlab: GitLab | None = None

    class Handler(BaseHTTPRequestHandler):
        def _api_path(self) -> tuple[str, dict[str, str]] | None:
            """The path under /api/v4/ (still percent-encoded) of an authorized call."""
            assert gitlab is not None
            raw = self.path.split("?", 1)[0]
            query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if not raw.startswith("/api/v4/"):
                self._json(404, {"message": "404 Not Found"})
                return None
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in gitlab.tokens:
                self._json(401, {"message": "401 Unauthorized"})
                return None
            gitlab.calls.append((self.command, raw))
            return raw.removeprefix("/api/v4/"), query

        def do_GET(self) -> None:
            assert gitlab is not None
            parts = urlsplit(self.path)
            if parts.path == "/oauth/authorize":
                status, location = gitlab.authorize({k: v[-1] for k, v in parse_qs(parts.query).items()})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            found = self._api_path()
            if found is None:
                return
            body = gitlab.api_answer(*found)
            if body is None:
                self._json(404, {"message": "404 Not Found"})
            elif isinstance(body, bytes):
                self._raw(body)
            elif isinstance(body, list):
                self._page(body, parse_qs(parts.query))
            else:
                self._json(200, body)

        def _page(self, found: list[Any], query: dict[str, list[str]]) -> None:
            assert gitlab is not None
            size = min(gitlab.page_size, int(query.get("per_page", ["20"])[-1]))
            page = int(query.get("page", ["1"])[-1])
            links = {}
            if page * size < len(found):
                query = {**query, "page": [str(page + 1)]}
                next_url = f"{gitlab.url}{self.path.split('?', 1)[0]}?{urlencode(query, doseq=True)}"
                links["Link"] = f'<{next_url}>; rel="next"'
            self._json(200, found[(page - 1) * size : page * size], links)

        def do_DELETE(self) -> None:
            assert gitlab is not None
            found = self._api_path()
            if found is None:
                return
            m = re.fullmatch(r"projects/([^/]+)/(deploy_keys|hooks)/(\d+)", found[0])
            status = gitlab.remove(unquote(m[1]), m[2], int(m[3])) if m else 404
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            assert gitlab is not None
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if self.path == "/oauth/token":
                self._json(*gitlab.exchange({k: v[-1] for k, v in parse_qs(data.decode()).items()}))
                return
            found = self._api_path()
            if found is None:
                return
            m = re.fullmatch(r"projects/([^/]+)/(deploy_keys|hooks)", found[0])
            if m is None:
                self._json(404, {"message": "404 Not Found"})
                return
            self._json(*gitlab.create(unquote(m[1]), m[2], json.loads(data)))

        def _raw(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
    gitlab = GitLab(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gitlab
    finally:
        server.shutdown()
        server.server_close()

"""A real, minimal Bitbucket Cloud for build trigger tests, served over HTTP by a thread: the
OAuth 2 web flow (/site/oauth2/authorize approves at once and sends the browser to the consumer's
registered `callback_url` with a single-use code; /site/oauth2/access_token trades it, or a
refresh token, with the consumer's key and secret as basic auth, for an access token that expires
after `token_lifetime` seconds) and, under /2.0/ and only for a live token, the calls a build
trigger makes: the user, their workspaces, a workspace's repositories, a repository, its branches,
tags and files (listed, or one's raw bytes: `contents` holds a repository's, `b""` for one
not given), and adding and removing its deploy keys and webhooks (kept in `keys` and `hooks`,
every call recorded in `calls`). Lists are paged in the body (`values`, `next`) by `page_size`.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit


class Bitbucket:
    def __init__(self, base_url: str) -> None:
        self.url = base_url
        self.api = base_url + "/2.0"
        self.key = "wharf-consumer-key"
        self.secret = "bitbucket-s3cret-of-wharf"
        self.callback_url = ""
        self.user: dict[str, Any] = {"username": "bucky", "display_name": "Bucky"}
        self.workspaces: list[str] = ["bucky"]
        self.codes: set[str] = set()
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.token_lifetime = 7200
        self.calls: list[tuple[str, str]] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.branches: dict[str, dict[str, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.files: dict[str, list[str]] = {}
        self.contents: dict[str, dict[str, bytes]] = {}
        self.keys: dict[str, dict[int, dict[str, Any]]] = {}
        self.hooks: dict[str, dict[str, dict[str, Any]]] = {}
        self.page_size = 100
        self._ids = itertools.count(301)

    def reset(self) -> None:
        for store in (self.repos, self.branches, self.tags, self.files, self.contents, self.keys, self.hooks):
            store.clear()
        self.tokens.clear()
        self.refresh_tokens.clear()
        self.workspaces = [self.user["username"]]
        self.page_size = 100
        self.token_lifetime = 7200

    def add_repo(
        self, full_name: str, branches: dict[str, str], files: list[str], tags: dict[str, str] | None = None
    ) -> None:
        """A repository whose first branch is the main one; every commit has `files`."""
        workspace, slug = full_name.split("/")
        if workspace not in self.workspaces:
            self.workspaces.append(workspace)
        self.repos[full_name] = {
            "slug": slug,
            "name": slug,
            "full_name": full_name,
            "is_private": True,
            "description": f"The {slug} repository",
            "mainbranch": {"name": next(iter(branches)), "type": "branch"},
            "updated_on": "2026-12-01T10:00:00.000000+00:00",
            "links": {
                "html": {"href": f"{self.url}/{full_name}"},
                "clone": [
                    {"name": "https", "href": f"{self.url}/{full_name}.git"},
                    {"name": "ssh", "href": f"git@127.0.0.1:{full_name}.git"},
                ],
            },
        }
        self.branches[full_name] = dict(branches)
        self.tags[full_name] = dict(tags or {})
        for sha in [*branches.values(), *(tags or {}).values()]:
            self.files[sha] = list(files)
        self.keys[full_name] = {}
        self.hooks[full_name] = {}

    def repo_answer(self, full_name: str, rest: str) -> Any:
        if full_name not in self.repos:
            return None
        if rest == "":
            return self.repos[full_name]
        if m := re.fullmatch(r"refs/(branches|tags)/?(.*)", rest):
            refs = (self.branches if m[1] == "branches" else self.tags)[full_name]
            if m[2]:
                sha = refs.get(unquote(m[2]))
                return {"name": unquote(m[2]), "target": {"hash": sha}} if sha else None
            return [{"name": name, "target": {"hash": sha}} for name, sha in refs.items()]
        if m := re.fullmatch(r"src/([0-9a-f]+)/(.+)", rest):
            path = unquote(m[2])
            if path not in self.files.get(m[1], []):
                return None
            return self.contents.get(full_name, {}).get(path, b"")
        if m := re.fullmatch(r"src/([0-9a-f]+)/", rest):
            paths = self.files.get(m[1])
            if paths is None:
                return None
            dirs = sorted({p.rsplit("/", 1)[0] for p in paths if "/" in p})
            return [{"path": d, "type": "commit_directory"} for d in dirs] + [
                {"path": p, "type": "commit_file"} for p in paths
            ]
        return None

    def api_answer(self, path: str) -> Any:
        if path == "user":
            return self.user
        if path == "user/permissions/workspaces":
            return [{"workspace": {"slug": w, "name": w.title()}} for w in self.workspaces]
        if m := re.fullmatch(r"repositories/([^/]+)", path):
            workspace = unquote(m[1])
            if workspace not in self.workspaces:
                return None
            return [r for r in self.repos.values() if r["full_name"].split("/")[0] == workspace]
        if m := re.fullmatch(r"repositories/([^/]+)/([^/]+)/?(.*)", path):
            return self.repo_answer(f"{unquote(m[1])}/{unquote(m[2])}", m[3])
        return None

    def create(self, full_name: str, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        if full_name not in self.repos:
            return 404, {"type": "error", "error": {"message": "Repository not found"}}
        if kind == "deploy-keys":
            if any(k["key"] == body.get("key") for k in self.keys[full_name].values()):
                return 400, {
                    "type": "error",
                    "error": {"message": "Someone has already added that access key"},
                }
            ident = next(self._ids)
            self.keys[full_name][ident] = body
            return 200, {"id": ident, **body}
        hook = "{" + str(uuid.uuid4()) + "}"
        self.hooks[full_name][hook] = body
        return 201, {"uuid": hook, **body}

    def remove(self, full_name: str, kind: str, ident: str) -> int:
        if kind == "deploy-keys":
            found = self.keys.get(full_name, {}).pop(int(ident), None) if ident.isdigit() else None
        else:
            found = self.hooks.get(full_name, {}).pop(ident, None)
        return 204 if found is not None else 404

    def authorize(self, query: dict[str, str]) -> str:
        code = secrets.token_hex(10)
        self.codes.add(code)
        return self.callback_url + "?" + urlencode({"code": code, "state": query.get("state", "")})

    def _grant(self) -> dict[str, Any]:
        token, refresh = secrets.token_hex(16), secrets.token_hex(12)
        self.tokens.add(token)
        self.refresh_tokens.add(refresh)
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "refresh_token": refresh,
            "scopes": "repository:admin webhook account",
        }

    def exchange(self, basic: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if basic != base64.b64encode(f"{self.key}:{self.secret}".encode()).decode():
            return 400, {"error": "invalid_client", "error_description": "Invalid OAuth client credentials"}
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh_token"}
            self.tokens.clear()
            return 200, self._grant()
        if form.get("grant_type") != "authorization_code" or form.get("code") not in self.codes:
            return 400, {"error": "invalid_grant", "error_description": "The code is invalid"}
        self.codes.discard(form["code"])
        return 200, self._grant()


@contextmanager
def running_bitbucket() -> Iterator[Bitbucket]:
    bitbucket: Bitbucket | None = None

    class Handler(BaseHTTPRequestHandler):
        def _api_path(self) -> str | None:
            """The path under /2.0/ (still percent-encoded) of an authorized call."""
            assert bitbucket is not None
            raw = self.path.split("?", 1)[0]
            if not raw.startswith("/2.0/"):
                self._json(404, {"type": "error", "error": {"message": "Not found"}})
                return None
            if self.headers.get("Authorization", "").removeprefix("Bearer ") not in bitbucket.tokens:
                self._json(401, {"type": "error", "error": {"message": "Access token expired."}})
                return None
            bitbucket.calls.append((self.command, raw))
            return raw.removeprefix("/2.0/")

        def do_GET(self) -> None:
            assert bitbucket is not None
            parts = urlsplit(self.path)
            if parts.path == "/site/oauth2/authorize":
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                self.send_response(302)
                self.send_header("Location", bitbucket.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = self._api_path()
            if path is None:
                return
            body = bitbucket.api_answer(path)
            if body is None:
                self._json(404, {"type": "error", "error": {"message": "Not found"}})
            elif isinstance(body, bytes):
                self._raw(body)
            elif isinstance(body, list):
                self._page(body, parse_qs(parts.query))
            else:
                self._json(200, body)

        def _page(self, found: list[Any], query: dict[str, list[str]]) -> None:
            assert bitbucket is not None
            size = min(bitbucket.page_size, int(query.get("pagelen", ["10"])[-1]))
            page = int(query.get("page", ["1"])[-1])
            answer: dict[str, Any] = {
                "pagelen": size,
                "page": page,
                "values": found[(page - 1) * size : page * size],
            }
            if page * size < len(found):
                following = urlencode({**query, "page": [str(page + 1)]}, doseq=True)
                answer["next"] = f"{bitbucket.url}{self.path.split('?', 1)[0]}?{following}"
            self._json(200, answer)

        def do_DELETE(self) -> None:
            assert bitbucket is not None
            path = self._api_path()
            if path is None:
                return
            m = re.fullmatch(r"repositories/([^/]+/[^/]+)/(deploy-keys|hooks)/([^/]+)", path)
            status = bitbucket.remove(unquote(m[1]), m[2], unquote(m[3])) if m else 404
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            assert bitbucket is not None
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/site/oauth2/access_token":
                basic = self.headers.get("Authorization", "").removeprefix("Basic ")
                form = {k: v[-1] for k, v in parse_qs(data.decode()).items()}
                self._json(*bitbucket.exchange(basic, form))
                return
            path = self._api_path()
            if path is None:
                return
            m = re.fullmatch(r"repositories/([^/]+/[^/]+)/(deploy-keys|hooks)", path)
            if m is None:
                self._json(404, {"type": "error", "error": {"message": "Not found"}})
                return
            self._json(*bitbucket.create(unquote(m[1]), m[2], json.loads(data)))

        def _raw(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
    bitbucket = Bitbucket(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield bitbucket
    finally:
        server.shutdown()
        server.server_close()

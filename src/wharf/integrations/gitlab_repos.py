"""GitLab's v4 API as a build trigger uses it (Quay's GITLAB_TRIGGER_CONFIG, on with
FEATURE_GITLAB_BUILD): the OAuth application's authorization URL, the code exchange and the
refresh of an expired token, the user's namespaces and projects, a project's branches, tags,
tree and files, and its deploy keys and webhooks. Every call carries the token the user gave when
connecting the trigger, and goes through the outbound guard. Lists follow GitLab's
`Link: rel="next"` pages of 100, at most MAX_PAGES of them, and only on the API's own origin.

GitLab's access tokens expire (two hours since GitLab 15): the grant keeps the refresh token and
when the access token runs out, so the caller can trade it for a new one before a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from wharf.config import Settings
from wharf.integrations import outbound
from wharf.integrations.oauth_grant import Grant

KEY = "GITLAB_TRIGGER_CONFIG"
SCOPES = ("api",)
"""`api` to read private projects and add deploy keys and webhooks to them (`read_api` cannot)."""
PAGE = "per_page=100"
MAX_PAGES = 10


class GitLabError(Exception):
    """GitLab refused or failed a call: the message says which and why."""


class GitLabConfigError(GitLabError):
    """GITLAB_TRIGGER_CONFIG is not usable: the message says what is wrong."""


class GitLabGrantRefused(GitLabError):
    """GitLab's token endpoint answered that it will not give a token for this code or grant
    (revoked, spent or unknown): unlike an unreachable GitLab, asking again will not help."""


class GitLabTokenRefused(GitLabError):
    """GitLab answered 401 to the trigger's token: the user revoked Wharf's access (or the
    application was replaced), so nothing can be done at the repository with it any more."""


class GitLabNotFound(GitLabError):
    """GitLab has no such project, branch, key or hook (or hides it from this token)."""


@dataclass(frozen=True, slots=True)
class GitLabApp:
    """The OAuth application: where GitLab is, and Wharf's client credentials there."""

    endpoint: str
    client_id: str
    client_secret: str
    name: str = "GitLab"

    @property
    def api(self) -> str:
        return self.endpoint + "/api/v4/"


def application(settings: Settings) -> GitLabApp | None:
    """The configured OAuth application of GitLab triggers, or None when they are off."""
    raw = settings.GITLAB_TRIGGER_CONFIG
    if not settings.FEATURE_GITLAB_BUILD or raw is None:
        return None
    missing = [k for k in ("CLIENT_ID", "CLIENT_SECRET") if not raw.get(k)]
    if missing:
        raise GitLabConfigError(f"{KEY} needs {', '.join(missing)}")
    endpoint = str(raw.get("GITLAB_ENDPOINT") or "https://gitlab.com").rstrip("/")
    scheme = urlsplit(endpoint).scheme
    if scheme != "https" and not (scheme == "http" and raw.get("DEBUGGING")):
        raise GitLabConfigError(
            f"{KEY}: GITLAB_ENDPOINT must be an https:// URL (http only with DEBUGGING: true)"
        )
    return GitLabApp(endpoint, str(raw["CLIENT_ID"]), str(raw["CLIENT_SECRET"]))


def authorization_url(app: GitLabApp, *, redirect_uri: str, state: str) -> str:
    params = {
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
    }
    return f"{app.endpoint}/oauth/authorize?{urlencode(params)}"


async def _token(app: GitLabApp, settings: Settings, form: dict[str, str], now_ms: int) -> Grant:
    body = urlencode({"client_id": app.client_id, "client_secret": app.client_secret, **form}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    try:
        answer = await outbound.post(f"{app.endpoint}/oauth/token", settings, body, headers=headers)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise GitLabError(f"{app.name} did not give a token: {e}") from None
    try:
        found = json.loads(answer.body)
    except ValueError:
        found = None
    if answer.status != 200 or not isinstance(found, dict) or not isinstance(found.get("access_token"), str):
        detail = found.get("error_description") or found.get("error") if isinstance(found, dict) else None
        raise GitLabGrantRefused(f"{app.name} did not give a token: {detail or answer.status}")
    return Grant.of(found, now_ms)


async def exchange_code(
    app: GitLabApp, settings: Settings, *, code: str, redirect_uri: str, now_ms: int
) -> Grant:
    """The grant GitLab gives for `code`."""
    form = {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri}
    return await _token(app, settings, form, now_ms)


async def refresh(
    app: GitLabApp, settings: Settings, grant: Grant, *, redirect_uri: str, now_ms: int
) -> Grant:
    """A new grant for an expired one (GitLab answers a new refresh token too: the old one is spent)."""
    if grant.refresh_token is None:
        raise GitLabGrantRefused(
            f"the {app.name} token has expired and cannot be renewed: connect the trigger again"
        )
    form = {"refresh_token": grant.refresh_token, "grant_type": "refresh_token", "redirect_uri": redirect_uri}
    return await _token(app, settings, form, now_ms)


def repository_url(app: GitLabApp, full_name: str) -> str:
    """The project's page (Quay's repository_url of a GitLab trigger)."""
    return f"{app.endpoint}/{full_name}"


def _project(full_name: str) -> str:
    """A project addressed by its path: GitLab takes `group%2Fsub%2Fname` where an id goes."""
    return f"projects/{quote(full_name, safe='')}"


def _message(found: Any) -> str | None:
    """GitLab's error text: `message` (a string, or a mapping of field to messages) or `error`."""
    if not isinstance(found, dict):
        return None
    message = found.get("message") or found.get("error")
    if isinstance(message, dict):
        return "; ".join(
            f"{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in message.items()
        )
    return str(message) if message else None


@dataclass(frozen=True, slots=True)
class GitLabRepos:
    """The API, as the user who connected a trigger."""

    app: GitLabApp
    settings: Settings
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def _page(self, url: str, path: str) -> outbound.Page:
        try:
            return await outbound.get_page(url, self.settings, headers=self._headers())
        except outbound.OutboundRefused as e:
            raise GitLabError(str(e)) from None
        except outbound.OutboundFailed as e:
            if "answered 404" in str(e):
                raise GitLabNotFound(f"{self.app.name} has no {path.split('?')[0]}") from None
            raise GitLabError(str(e)) from None

    async def _get(self, path: str) -> Any:
        return (await self._page(self.app.api + path, path)).body

    async def _list(self, path: str) -> list[dict[str, Any]]:
        url: str | None = self.app.api + path + ("&" if "?" in path else "?") + PAGE
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            page = await self._page(url, path)
            found += [e for e in page.body if isinstance(e, dict)] if isinstance(page.body, list) else []
            url = outbound.same_origin(page.next_url, self.app.api)
        return found

    async def _one(self, path: str, what: str) -> dict[str, Any]:
        found = await self._get(path)
        if not isinstance(found, dict):
            raise GitLabError(f"{self.app.name} did not describe {what}")
        return found

    async def user(self) -> dict[str, Any]:
        me = await self._one("user", "you")
        if not isinstance(me.get("id"), int) or not isinstance(me.get("username"), str):
            raise GitLabError(f"{self.app.name} did not say who you are")
        return me

    async def namespaces(self) -> list[dict[str, Any]]:
        return await self._list("namespaces")

    async def namespace(self, namespace_id: str) -> dict[str, Any]:
        return await self._one(f"namespaces/{quote(namespace_id, safe='')}", f"namespace {namespace_id}")

    async def group_projects(self, group_id: str) -> list[dict[str, Any]]:
        return await self._list(f"groups/{quote(group_id, safe='')}/projects?order_by=last_activity_at")

    async def user_projects(self, user_id: int) -> list[dict[str, Any]]:
        return await self._list(f"users/{int(user_id)}/projects?order_by=last_activity_at")

    async def project(self, full_name: str) -> dict[str, Any]:
        return await self._one(_project(full_name), full_name)

    async def branches(self, full_name: str) -> list[str]:
        found = await self._list(f"{_project(full_name)}/repository/branches")
        return [str(b["name"]) for b in found if "name" in b]

    async def tags(self, full_name: str) -> list[str]:
        return [
            str(t["name"]) for t in await self._list(f"{_project(full_name)}/repository/tags") if "name" in t
        ]

    async def ref_sha(self, full_name: str, kind: str, name: str) -> str:
        """The commit a branch or tag points at."""
        where = "branches" if kind == "branch" else "tags"
        found = await self._get(f"{_project(full_name)}/repository/{where}/{quote(name, safe='')}")
        commit = found.get("commit") if isinstance(found, dict) else None
        sha = commit.get("id") if isinstance(commit, dict) else None
        if not isinstance(sha, str):
            raise GitLabNotFound(f"{full_name} has no {kind} {name}")
        return sha

    async def tree_paths(self, full_name: str, ref: str) -> list[str]:
        """The paths of the files in the ref's tree."""
        found = await self._list(
            f"{_project(full_name)}/repository/tree?recursive=true&ref={quote(ref, safe='')}"
        )
        return [str(e["path"]) for e in found if e.get("type") == "blob" and "path" in e]

    async def file(self, full_name: str, path: str, ref: str, max_bytes: int) -> bytes | None:
        """A file of the ref (the repository files API's raw form), at most `max_bytes` of it;
        None when the ref has no such file."""
        where = f"{_project(full_name)}/repository/files/{quote(path.lstrip('/'), safe='')}/raw"
        url = f"{self.app.api}{where}?ref={quote(ref, safe='')}"
        try:
            return await outbound.get_bytes(url, self.settings, max_bytes=max_bytes, headers=self._headers())
        except outbound.OutboundRefused as e:
            raise GitLabError(str(e)) from None
        except outbound.OutboundFailed as e:
            if "answered 404" in str(e):
                return None
            raise GitLabError(str(e)) from None

    async def _create(self, path: str, body: dict[str, Any], what: str) -> int:
        try:
            answer = await outbound.post(
                self.app.api + path, self.settings, json.dumps(body).encode(), headers=self._headers()
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise GitLabError(f"Unable to {what}: {e}") from None
        try:
            created = json.loads(answer.body)
        except ValueError:
            created = None
        if answer.status != 201 or not isinstance(created, dict) or not isinstance(created.get("id"), int):
            raise GitLabError(f"Unable to {what}: {_message(created) or answer.status}")
        return int(created["id"])

    async def add_deploy_key(self, full_name: str, title: str, public_key: str) -> int:
        body = {"title": title, "key": public_key, "can_push": False}
        return await self._create(
            f"{_project(full_name)}/deploy_keys", body, f"add a deploy key to {full_name}"
        )

    async def add_push_hook(self, full_name: str, url: str, secret: str) -> int:
        """A webhook for pushes of branches and tags; GitLab sends `secret` as X-Gitlab-Token."""
        body = {
            "url": url,
            "push_events": True,
            "tag_push_events": True,
            "token": secret,
            "enable_ssl_verification": True,
        }
        return await self._create(f"{_project(full_name)}/hooks", body, f"create a webhook on {full_name}")

    async def _remove(self, path: str, what: str) -> None:
        try:
            status = await outbound.delete(self.app.api + path, self.settings, headers=self._headers())
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise GitLabError(f"Unable to remove {what}: {e}") from None
        if status == 401:
            raise GitLabTokenRefused(f"Unable to remove {what}: {self.app.name} no longer honours the token")
        # 404: someone removed it at GitLab already, which is what was wanted.
        if status not in (200, 204, 404):
            raise GitLabError(f"Unable to remove {what}: {self.app.name} answered {status}")

    async def remove_deploy_key(self, full_name: str, key_id: int) -> None:
        await self._remove(f"{_project(full_name)}/deploy_keys/{int(key_id)}", f"deploy key {key_id}")

    async def remove_hook(self, full_name: str, hook_id: int) -> None:
        await self._remove(f"{_project(full_name)}/hooks/{int(hook_id)}", f"hook {hook_id}")

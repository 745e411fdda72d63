"""GitHub's repository API as a build trigger uses it (Quay's GITHUB_TRIGGER_CONFIG, on with
FEATURE_GITHUB_BUILD): the OAuth application's authorization URL and code exchange, the user's
namespaces and repositories, a repository's branches, tags, tree and files, and its deploy keys
and webhooks. Every call carries the token the user gave when connecting the trigger, and goes
through the outbound guard. Lists follow GitHub's `Link: rel="next"` pages of 100, at most
MAX_PAGES of them (and only on the API's own origin: the token goes with every page).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from wharf.config import Settings
from wharf.integrations import github_login, outbound
from wharf.integrations.oidc_login import LoginService, github_service

KEY = "GITHUB_TRIGGER_CONFIG"
SCOPES = ("repo", "user:email", "read:org")
"""`repo` to read private repositories and add keys and hooks to them; `read:org` for the
organizations a user is a member of (Quay asks the same)."""
PAGE = "per_page=100"
MAX_PAGES = 10
"""At most 1,000 repositories, branches or tags: a wizard's choices, not an export."""


class GitHubError(Exception):
    """GitHub refused or failed a call: the message says which and why."""


class GitHubTokenRefused(GitHubError):
    """GitHub answered 401 to the trigger's token: the user revoked Wharf's access (or the
    application was replaced), so nothing can be done at the repository with it any more."""


class GitHubNotFound(GitHubError):
    """GitHub has no such repository, branch, key or hook (or hides it from this token)."""


def application(settings: Settings) -> LoginService | None:
    """The configured OAuth application of GitHub triggers, or None when they are off."""
    if not settings.FEATURE_GITHUB_BUILD or settings.GITHUB_TRIGGER_CONFIG is None:
        return None
    return github_service(settings.GITHUB_TRIGGER_CONFIG, KEY)


def authorization_url(app: LoginService, *, redirect_uri: str, state: str) -> str:
    params = {
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": state,
    }
    return f"{app.issuer}/login/oauth/authorize?{urlencode(params)}"


async def exchange_code(app: LoginService, settings: Settings, *, code: str, redirect_uri: str) -> str:
    """The access token GitHub gives for `code`."""
    try:
        return await github_login.access_token(app, settings, code, redirect_uri)
    except github_login.GitHubLoginError as e:
        raise GitHubError(str(e)) from None


def repository_url(app: LoginService, full_name: str) -> str:
    """The repository's page (Quay's repository_url of a GitHub trigger)."""
    return f"{app.issuer}/{full_name}"


def _repo_path(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    return f"repos/{quote(owner, safe='')}/{quote(name, safe='')}"


@dataclass(frozen=True, slots=True)
class GitHubRepos:
    """The API, as the user who connected a trigger."""

    app: LoginService
    settings: Settings
    token: str

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

    async def _page(self, url: str, path: str) -> outbound.Page:
        try:
            return await outbound.get_page(url, self.settings, headers=github_login.api_headers(self.token))
        except outbound.OutboundRefused as e:
            raise GitHubError(str(e)) from None
        except outbound.OutboundFailed as e:
            if "answered 404" in str(e):
                raise GitHubNotFound(f"{self.app.name} has no {path.split('?')[0]}") from None
            raise GitHubError(str(e)) from None

    async def user(self) -> dict[str, Any]:
        me = await self._get("user")
        if not isinstance(me, dict) or not isinstance(me.get("login"), str):
            raise GitHubError(f"{self.app.name} did not say who you are")
        return me

    async def orgs(self) -> list[dict[str, Any]]:
        return await self._list("user/orgs")

    async def user_repos(self) -> list[dict[str, Any]]:
        return await self._list("user/repos?type=owner&sort=updated")

    async def org_repos(self, org: str) -> list[dict[str, Any]]:
        return await self._list(f"orgs/{quote(org, safe='')}/repos?type=member")

    async def repo(self, full_name: str) -> dict[str, Any]:
        found = await self._get(_repo_path(full_name))
        if not isinstance(found, dict):
            raise GitHubError(f"{self.app.name} did not describe {full_name}")
        return found

    async def branches(self, full_name: str) -> list[str]:
        return [str(b["name"]) for b in await self._list(f"{_repo_path(full_name)}/branches") if "name" in b]

    async def tags(self, full_name: str) -> list[str]:
        return [str(t["name"]) for t in await self._list(f"{_repo_path(full_name)}/tags") if "name" in t]

    async def ref_sha(self, full_name: str, kind: str, name: str) -> str:
        """The commit a branch or tag points at."""
        if kind == "branch":
            found = await self._get(f"{_repo_path(full_name)}/branches/{quote(name, safe='')}")
        else:
            tags = await self._list(f"{_repo_path(full_name)}/tags")
            found = next((t for t in tags if t.get("name") == name), None)
        commit = found.get("commit") if isinstance(found, dict) else None
        sha = commit.get("sha") if isinstance(commit, dict) else None
        if not isinstance(sha, str):
            raise GitHubNotFound(f"{full_name} has no {kind} {name}")
        return sha

    async def tree_paths(self, full_name: str, sha: str) -> list[str]:
        """The paths of the files in the commit's tree."""
        found = await self._get(f"{_repo_path(full_name)}/git/trees/{quote(sha, safe='')}?recursive=1")
        entries = found.get("tree") if isinstance(found, dict) else None
        if not isinstance(entries, list):
            return []
        return [
            str(e["path"]) for e in entries if isinstance(e, dict) and e.get("type") == "blob" and "path" in e
        ]

    async def file(self, full_name: str, path: str) -> bytes | None:
        """A file of the default branch (the contents API); None when there is none there, or the
        path is a directory."""
        try:
            found = await self._get(f"{_repo_path(full_name)}/contents/{quote(path.lstrip('/'))}")
        except GitHubNotFound:
            return None
        if not isinstance(found, dict) or found.get("type") != "file":
            return None
        content = found.get("content")
        if not isinstance(content, str):
            return None
        if found.get("encoding") != "base64":
            return content.encode()
        try:
            return base64.b64decode(content)
        except (binascii.Error, ValueError):
            raise GitHubError(f"{self.app.name} sent {path} in a form Wharf cannot read") from None

    async def _create(self, path: str, body: dict[str, Any], what: str) -> int:
        try:
            answer = await outbound.post(
                self.app.api + path,
                self.settings,
                json.dumps(body).encode(),
                headers=github_login.api_headers(self.token),
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise GitHubError(f"Unable to {what}: {e}") from None
        try:
            created = json.loads(answer.body)
        except ValueError:
            created = None
        if answer.status != 201 or not isinstance(created, dict) or not isinstance(created.get("id"), int):
            errors = created.get("errors") if isinstance(created, dict) else None
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            message = first.get("message") or (created.get("message") if isinstance(created, dict) else None)
            raise GitHubError(f"Unable to {what}: {message or answer.status}")
        return int(created["id"])

    async def add_deploy_key(self, full_name: str, title: str, public_key: str) -> int:
        body = {"title": title, "key": public_key, "read_only": True}
        return await self._create(f"{_repo_path(full_name)}/keys", body, f"add a deploy key to {full_name}")

    async def add_push_hook(self, full_name: str, url: str, secret: str) -> int:
        body = {
            "name": "web",
            "active": True,
            "events": ["push"],
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        }
        return await self._create(f"{_repo_path(full_name)}/hooks", body, f"create a webhook on {full_name}")

    async def _remove(self, path: str, what: str) -> None:
        try:
            status = await outbound.delete(
                self.app.api + path, self.settings, headers=github_login.api_headers(self.token)
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise GitHubError(f"Unable to remove {what}: {e}") from None
        if status == 401:
            raise GitHubTokenRefused(f"Unable to remove {what}: {self.app.name} no longer honours the token")
        # 404: someone removed it at GitHub already, which is what was wanted.
        if status not in (204, 404):
            raise GitHubError(f"Unable to remove {what}: {self.app.name} answered {status}")

    async def remove_deploy_key(self, full_name: str, key_id: int) -> None:
        await self._remove(f"{_repo_path(full_name)}/keys/{int(key_id)}", f"deploy key {key_id}")

    async def remove_hook(self, full_name: str, hook_id: int) -> None:
        await self._remove(f"{_repo_path(full_name)}/hooks/{int(hook_id)}", f"hook {hook_id}")

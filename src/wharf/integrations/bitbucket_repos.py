"""Bitbucket Cloud's 2.0 API as a build trigger uses it (Quay's BITBUCKET_TRIGGER_CONFIG, on with
FEATURE_BITBUCKET_BUILD): the OAuth consumer's authorization URL, the code exchange and the
refresh of an expired token, the user's workspaces and repositories, a repository's branches,
tags and files, and its deploy keys and webhooks. Every call carries the token the user gave
when connecting the trigger, and goes through the outbound guard.

Quay signs in to Bitbucket with OAuth 1; Bitbucket's OAuth consumers also speak OAuth 2 with the
same key and secret (the consumer's key is the client id), which is what Wharf uses: the
configuration keeps Quay's CONSUMER_KEY and CONSUMER_SECRET. Bitbucket pages its lists in the
body (`values` and the `next` URL), followed for at most MAX_PAGES and only on the API's origin.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from wharf.config import Settings
from wharf.integrations import outbound
from wharf.integrations.oauth_grant import Grant

KEY = "BITBUCKET_TRIGGER_CONFIG"
PAGE = "pagelen=100"
MAX_PAGES = 10
TREE_DEPTH = 8
"""How deep the Dockerfile search goes below the repository's root."""


class BitbucketError(Exception):
    """Bitbucket refused or failed a call: the message says which and why."""


class BitbucketConfigError(BitbucketError):
    """BITBUCKET_TRIGGER_CONFIG is not usable: the message says what is wrong."""


class BitbucketGrantRefused(BitbucketError):
    """Bitbucket's token endpoint answered that it will not give a token for this code or grant
    (revoked, spent or unknown): unlike an unreachable Bitbucket, asking again will not help."""


class BitbucketTokenRefused(BitbucketError):
    """Bitbucket answered 401 to the trigger's token: the user revoked Wharf's access (or the
    application was replaced), so nothing can be done at the repository with it any more."""


class BitbucketNotFound(BitbucketError):
    """Bitbucket has no such repository, branch, key or hook (or hides it from this token)."""


@dataclass(frozen=True, slots=True)
class BitbucketApp:
    """The OAuth consumer: where Bitbucket and its API are, and Wharf's key and secret there."""

    endpoint: str
    api: str
    client_id: str
    client_secret: str
    name: str = "Bitbucket"


def _https(name: str, url: str, debugging: bool) -> None:
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and debugging):
        raise BitbucketConfigError(f"{KEY}: {name} must be an https:// URL (http only with DEBUGGING: true)")


def application(settings: Settings) -> BitbucketApp | None:
    """The configured OAuth consumer of Bitbucket triggers, or None when they are off."""
    raw = settings.BITBUCKET_TRIGGER_CONFIG
    if not settings.FEATURE_BITBUCKET_BUILD or raw is None:
        return None
    missing = [k for k in ("CONSUMER_KEY", "CONSUMER_SECRET") if not raw.get(k)]
    if missing:
        raise BitbucketConfigError(f"{KEY} needs {', '.join(missing)}")
    endpoint = str(raw.get("BITBUCKET_ENDPOINT") or "https://bitbucket.org").rstrip("/")
    api = str(raw.get("API_ENDPOINT") or "https://api.bitbucket.org/2.0").rstrip("/") + "/"
    debugging = bool(raw.get("DEBUGGING"))
    _https("BITBUCKET_ENDPOINT", endpoint, debugging)
    _https("API_ENDPOINT", api, debugging)
    return BitbucketApp(endpoint, api, str(raw["CONSUMER_KEY"]), str(raw["CONSUMER_SECRET"]))


def authorization_url(app: BitbucketApp, *, state: str) -> str:
    """Bitbucket sends the browser back to the consumer's registered callback URL."""
    params = {"client_id": app.client_id, "response_type": "code", "state": state}
    return f"{app.endpoint}/site/oauth2/authorize?{urlencode(params)}"


async def _token(app: BitbucketApp, settings: Settings, form: dict[str, str], now_ms: int) -> Grant:
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "Authorization": f"Basic {basic}",
    }
    url = f"{app.endpoint}/site/oauth2/access_token"
    try:
        answer = await outbound.post(url, settings, urlencode(form).encode(), headers=headers)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise BitbucketError(f"{app.name} did not give a token: {e}") from None
    try:
        found = json.loads(answer.body)
    except ValueError:
        found = None
    if answer.status != 200 or not isinstance(found, dict) or not isinstance(found.get("access_token"), str):
        detail = found.get("error_description") or found.get("error") if isinstance(found, dict) else None
        raise BitbucketGrantRefused(f"{app.name} did not give a token: {detail or answer.status}")
    return Grant.of(found, now_ms)


async def exchange_code(app: BitbucketApp, settings: Settings, *, code: str, now_ms: int) -> Grant:
    return await _token(app, settings, {"grant_type": "authorization_code", "code": code}, now_ms)


async def refresh(app: BitbucketApp, settings: Settings, grant: Grant, *, now_ms: int) -> Grant:
    if grant.refresh_token is None:
        raise BitbucketGrantRefused(
            f"the {app.name} token has expired and cannot be renewed: connect the trigger again"
        )
    return await _token(
        app, settings, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}, now_ms
    )


def repository_url(app: BitbucketApp, full_name: str) -> str:
    return f"{app.endpoint}/{full_name}"


def _repo(full_name: str) -> str:
    workspace, _, slug = full_name.partition("/")
    return f"repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}"


def _message(found: Any) -> str | None:
    error = found.get("error") if isinstance(found, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else None


@dataclass(frozen=True, slots=True)
class BitbucketRepos:
    """The API, as the user who connected a trigger."""

    app: BitbucketApp
    settings: Settings
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def _get_url(self, url: str, path: str) -> Any:
        try:
            return await outbound.get_json(url, self.settings, headers=self._headers())
        except outbound.OutboundRefused as e:
            raise BitbucketError(str(e)) from None
        except outbound.OutboundFailed as e:
            if "answered 404" in str(e):
                raise BitbucketNotFound(f"{self.app.name} has no {path.split('?')[0]}") from None
            raise BitbucketError(str(e)) from None

    async def _get(self, path: str) -> Any:
        return await self._get_url(self.app.api + path, path)

    async def _list(self, path: str) -> list[dict[str, Any]]:
        url: str | None = self.app.api + path + ("&" if "?" in path else "?") + PAGE
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            page = await self._get_url(url, path)
            values = page.get("values") if isinstance(page, dict) else None
            found += [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
            following = page.get("next") if isinstance(page, dict) else None
            url = outbound.same_origin(following if isinstance(following, str) else None, self.app.api)
        return found

    async def _one(self, path: str, what: str) -> dict[str, Any]:
        found = await self._get(path)
        if not isinstance(found, dict):
            raise BitbucketError(f"{self.app.name} did not describe {what}")
        return found

    async def user(self) -> dict[str, Any]:
        me = await self._one("user", "you")
        if not isinstance(me.get("username"), str):
            raise BitbucketError(f"{self.app.name} did not say who you are")
        return me

    async def workspaces(self) -> list[dict[str, Any]]:
        found = await self._list("user/permissions/workspaces")
        return [w["workspace"] for w in found if isinstance(w.get("workspace"), dict)]

    async def repositories(self, workspace: str) -> list[dict[str, Any]]:
        return await self._list(f"repositories/{quote(workspace, safe='')}?role=member&sort=-updated_on")

    async def repository(self, full_name: str) -> dict[str, Any]:
        return await self._one(_repo(full_name), full_name)

    async def _refs(self, full_name: str, kind: str) -> list[dict[str, Any]]:
        return await self._list(f"{_repo(full_name)}/refs/{kind}")

    async def branches(self, full_name: str) -> list[str]:
        return [str(b["name"]) for b in await self._refs(full_name, "branches") if "name" in b]

    async def tags(self, full_name: str) -> list[str]:
        return [str(t["name"]) for t in await self._refs(full_name, "tags") if "name" in t]

    async def ref_sha(self, full_name: str, kind: str, name: str) -> str:
        where = "branches" if kind == "branch" else "tags"
        found = await self._get(f"{_repo(full_name)}/refs/{where}/{quote(name, safe='')}")
        target = found.get("target") if isinstance(found, dict) else None
        sha = target.get("hash") if isinstance(target, dict) else None
        if not isinstance(sha, str):
            raise BitbucketNotFound(f"{full_name} has no {kind} {name}")
        return sha

    async def file_paths(self, full_name: str, sha: str) -> list[str]:
        """The paths of the files in the commit (TREE_DEPTH levels deep)."""
        found = await self._list(f"{_repo(full_name)}/src/{quote(sha, safe='')}/?max_depth={TREE_DEPTH}")
        return [str(e["path"]) for e in found if e.get("type") == "commit_file" and "path" in e]

    async def file(self, full_name: str, path: str, sha: str, max_bytes: int) -> bytes | None:
        """A file of the commit (`src` answers a file's raw bytes), at most `max_bytes` of it;
        None when the commit has no such file."""
        if not path.strip("/"):
            return None
        where = f"{_repo(full_name)}/src/{quote(sha, safe='')}/{quote(path.lstrip('/'))}"
        try:
            return await outbound.get_bytes(
                self.app.api + where, self.settings, max_bytes=max_bytes, headers=self._headers()
            )
        except outbound.OutboundRefused as e:
            raise BitbucketError(str(e)) from None
        except outbound.OutboundFailed as e:
            if "answered 404" in str(e):
                return None
            raise BitbucketError(str(e)) from None

    async def _create(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            answer = await outbound.post(
                self.app.api + path, self.settings, json.dumps(body).encode(), headers=self._headers()
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise BitbucketError(f"Unable to {what}: {e}") from None
        try:
            created = json.loads(answer.body)
        except ValueError:
            created = None
        if answer.status not in (200, 201) or not isinstance(created, dict):
            raise BitbucketError(f"Unable to {what}: {_message(created) or answer.status}")
        return created

    async def add_deploy_key(self, full_name: str, label: str, public_key: str) -> int:
        """A deploy key (Bitbucket's are read-only)."""
        what = f"add a deploy key to {full_name}"
        created = await self._create(
            f"{_repo(full_name)}/deploy-keys", {"label": label, "key": public_key}, what
        )
        if not isinstance(created.get("id"), int):
            raise BitbucketError(f"Unable to {what}: {self.app.name} gave no id")
        return int(created["id"])

    async def add_push_hook(self, full_name: str, url: str, secret: str) -> str:
        """A `repo:push` webhook; Bitbucket signs each delivery with `secret` (X-Hub-Signature)."""
        what = f"create a webhook on {full_name}"
        body = {
            "description": "Wharf builds",
            "url": url,
            "active": True,
            "events": ["repo:push"],
            "secret": secret,
        }
        created = await self._create(f"{_repo(full_name)}/hooks", body, what)
        if not isinstance(created.get("uuid"), str):
            raise BitbucketError(f"Unable to {what}: {self.app.name} gave no uuid")
        return str(created["uuid"])

    async def _remove(self, path: str, what: str) -> None:
        try:
            status = await outbound.delete(self.app.api + path, self.settings, headers=self._headers())
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise BitbucketError(f"Unable to remove {what}: {e}") from None
        if status == 401:
            raise BitbucketTokenRefused(
                f"Unable to remove {what}: {self.app.name} no longer honours the token"
            )
        # 404: someone removed it at Bitbucket already, which is what was wanted.
        if status not in (200, 204, 404):
            raise BitbucketError(f"Unable to remove {what}: {self.app.name} answered {status}")

    async def remove_deploy_key(self, full_name: str, key_id: int) -> None:
        await self._remove(f"{_repo(full_name)}/deploy-keys/{int(key_id)}", f"deploy key {key_id}")

    async def remove_hook(self, full_name: str, hook_uuid: str) -> None:
        await self._remove(f"{_repo(full_name)}/hooks/{quote(hook_uuid, safe='')}", f"hook {hook_uuid}")

"""GitHub build triggers connected through Wharf's OAuth application (Quay's GitHub trigger,
GITHUB_TRIGGER_CONFIG with FEATURE_GITHUB_BUILD).

A repository admin connects one from the web UI: GitHub asks them to let Wharf in, and sends
the browser back to /oauth2/github/callback/trigger/<repository> with a code; Wharf trades it
for a token and creates an inactive `github` trigger holding that token (sealed). With it Wharf
lists the user's namespaces, repositories, branches, tags and Dockerfiles for the setup wizard,
and on activation adds the deploy key and the push webhook to the GitHub repository itself
(services/build_triggers.py calls `install`); deleting the trigger removes both. The pushes then
arrive at the same webhook as every trigger's.

Only the user who connected a trigger may browse GitHub with its token: another admin of the
repository would otherwise see that user's private repositories (Quay checks the same).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from wharf.auth.identity import Identity
from wharf.core import build_triggers, trigger_payloads
from wharf.core.build_triggers import TriggerRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotAllowed, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.integrations import github_repos
from wharf.integrations.github_repos import GitHubError, GitHubNotFound, GitHubRepos, GitHubTokenRefused
from wharf.integrations.oidc_login import LoginService
from wharf.runtime import Runtime
from wharf.services import trigger_common

CALLBACK_PATH = "/oauth2/github/callback/trigger/{repository}"
NAME = "GitHub"
STATE_LIFETIME_MS = 10 * 60 * 1000
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


class GitHubTriggersOff(NotFound):
    """FEATURE_GITHUB_BUILD is off or GITHUB_TRIGGER_CONFIG is missing."""


class GitHubRefused(InvalidInput):
    """GitHub refused or failed what the trigger asked of it: the message says what."""


def application(rt: Runtime) -> LoginService:
    app = github_repos.application(rt.settings)
    if app is None:
        raise GitHubTriggersOff(
            "GitHub build triggers are not set up on this registry (FEATURE_GITHUB_BUILD)"
        )
    return app


def enabled(rt: Runtime) -> bool:
    return github_repos.application(rt.settings) is not None


def repository_url(rt: Runtime, full_name: str) -> str:
    return github_repos.repository_url(application(rt), full_name)


def callback_url(rt: Runtime, repo: RepositoryRecord) -> str:
    return rt.settings.public_origin + CALLBACK_PATH.format(repository=repo.full_name)


# --- connecting ----------------------------------------------------------------------------------


def connect_url(rt: Runtime, who: Identity, repo: RepositoryRecord) -> str:
    """Where the browser goes to let Wharf into the user's GitHub account. The state names the
    user and the repository, sealed and short-lived: a code brought back by anyone else, or for
    another repository, is refused."""
    state = rt.secrets.seal(
        json.dumps({"a": who.account_id, "r": repo.full_name, "e": now_ms() + STATE_LIFETIME_MS})
    )
    return github_repos.authorization_url(application(rt), redirect_uri=callback_url(rt, repo), state=state)


def _check_state(rt: Runtime, who: Identity, repo: RepositoryRecord, state: str) -> None:
    opened = rt.secrets.open(state) if state else None
    try:
        value = json.loads(opened) if opened else None
    except ValueError:
        value = None
    if (
        not isinstance(value, dict)
        or value.get("a") != who.account_id
        or value.get("r") != repo.full_name
        or not isinstance(value.get("e"), int)
        or value["e"] < now_ms()
    ):
        raise NotAllowed("this GitHub authorization was not started here, or is too old: start again")


async def connect(rt: Runtime, who: Identity, repo: RepositoryRecord, code: str, state: str) -> TriggerRecord:
    """GitHub's callback: trade the code for a token and create an inactive trigger holding it
    (the surface checked admin on the repository)."""
    if not rt.settings.FEATURE_BUILD_SUPPORT:
        raise GitHubTriggersOff("builds are disabled on this registry (FEATURE_BUILD_SUPPORT)")
    app = application(rt)
    _check_state(rt, who, repo, state)
    try:
        token = await github_repos.exchange_code(
            app, rt.settings, code=code, redirect_uri=callback_url(rt, repo)
        )
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None
    sealed = rt.secrets.seal(token)
    return await rt.db.write(build_triggers.create, repo, trigger_payloads.GITHUB, who.account_id, sealed)


# --- the API as the connected user -------------------------------------------------------------


def client(rt: Runtime, trigger: TriggerRecord) -> GitHubRepos:
    """GitHub's API with the token the trigger was connected with."""
    token = rt.secrets.open(trigger.auth_token_sealed) if trigger.auth_token_sealed else None
    if trigger.service != trigger_payloads.GITHUB or token is None:
        raise InvalidInput("this trigger is not connected to GitHub")
    return GitHubRepos(application(rt), rt.settings, token)


async def _own(rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str) -> TriggerRecord:
    return await trigger_common.own(rt, who, repo, trigger_uuid, trigger_payloads.GITHUB, NAME)


def is_github(trigger: TriggerRecord) -> bool:
    return trigger.service == trigger_payloads.GITHUB and trigger.auth_token_sealed is not None


async def namespaces(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str
) -> list[dict[str, Any]]:
    """The user's own namespace and their organizations (Quay's listTriggerBuildSourceNamespaces)."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    if not is_github(trigger):
        return []
    gh = client(rt, trigger)
    try:
        me = await gh.user()
        orgs = await gh.orgs()
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None
    found = [
        {
            "personal": True,
            "id": me["login"],
            "title": me.get("name") or me["login"],
            "avatar_url": me.get("avatar_url"),
            "url": me.get("html_url"),
            "score": 0,
        }
    ]
    for org in orgs:
        name = str(org.get("login") or org.get("name") or "")
        if name:
            found.append(
                {
                    "personal": False,
                    "id": name,
                    "title": name,
                    "avatar_url": org.get("avatar_url"),
                    "url": "",
                    "score": 0,
                }
            )
    return found


def _pushed(value: Any) -> int:
    if not isinstance(value, str):
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _source_view(found: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": found.get("name"),
        "full_name": found.get("full_name"),
        "description": found.get("description") or "",
        "last_updated": _pushed(found.get("pushed_at")),
        "url": found.get("html_url"),
        "has_admin_permissions": True,
        "private": bool(found.get("private")),
    }


async def sources(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, namespace: str
) -> list[dict[str, Any]]:
    """The repositories of one namespace (Quay's listTriggerBuildSources): the user's own ones,
    or those of an organization they are a member of."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    if not is_github(trigger):
        return []
    gh = client(rt, trigger)
    try:
        me = await gh.user()
        found = await gh.user_repos() if namespace == me["login"] else await gh.org_repos(namespace)
    except GitHubNotFound:
        return []
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None
    return [_source_view(r) for r in found]


async def _branches(gh: GitHubRepos, full_name: str) -> list[str]:
    """The branches, the default one first (as Quay lists them)."""
    default = (await gh.repo(full_name)).get("default_branch")
    branches = await gh.branches(full_name)
    return trigger_common.default_first(default, branches)


async def field_values(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, field: str
) -> list[Any] | None:
    """Values of a manual run's field (Quay's listTriggerFieldValues): branch_name, tag_name,
    refs; None for a field without values."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    source = trigger.config.get("build_source")
    if field not in trigger_common.REF_FIELDS or not is_github(trigger):
        return None
    if not isinstance(source, str):
        return []
    gh = client(rt, trigger)
    try:
        branches = await _branches(gh, source) if field in ("branch_name", "refs") else []
        tags = await gh.tags(source) if field in ("tag_name", "refs") else []
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None
    return trigger_common.field_values(field, branches, tags)


async def subdirs(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The Dockerfiles of the first branch the configuration builds (Quay's listBuildTriggerSubdirs)."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    empty = trigger_common.subdirs_found([])
    source = config.get("build_source") or trigger.config.get("build_source")
    if not is_github(trigger) or not isinstance(source, str) or not _FULL_NAME.match(source):
        return empty
    gh = client(rt, trigger)
    try:
        branches = trigger_common.matching_branches(await _branches(gh, source), config)
        if not branches:
            return empty
        paths = await gh.tree_paths(source, await gh.ref_sha(source, "branch", branches[0]))
    except GitHubNotFound:
        return empty
    except GitHubError as e:
        return {"status": "error", "message": str(e)}
    return trigger_common.subdirs_found(paths)


async def dockerfile(rt: Runtime, trigger: TriggerRecord, clean: Mapping[str, Any]) -> bytes | None:
    """The configuration's Dockerfile on the default branch (analyzeBuildTrigger), None when it
    is not there."""
    try:
        return await client(rt, trigger).file(clean["build_source"], clean["dockerfile_path"])
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None


# --- activation and removal (called by services/build_triggers.py) -----------------------------


def check_source(source: object) -> str:
    """A GitHub trigger's build_source: the repository's `owner/name`, as Quay keeps it."""
    if not isinstance(source, str) or not _FULL_NAME.match(source.strip()):
        raise InvalidInput("build_source must name a GitHub repository as owner/name", field="build_source")
    return source.strip()


async def describe(rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any]) -> dict[str, Any]:
    """The configuration with what GitHub says of the repository: the URL to clone over SSH
    (with the deploy key) and its default branch."""
    try:
        found = await client(rt, trigger).repo(clean["build_source"])
    except GitHubNotFound:
        raise GitHubRefused(f"Unable to find GitHub repository for source: {clean['build_source']}") from None
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None
    ssh_url = found.get("ssh_url")
    if not isinstance(ssh_url, str) or not ssh_url:
        raise GitHubRefused(f"GitHub gave no SSH URL for {clean['build_source']}")
    described = {**clean, "git_url": ssh_url}
    if isinstance(found.get("default_branch"), str):
        described["default_branch"] = found["default_branch"]
    return described


async def install(
    rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any], public_key: str, hook_url: str, token: str
) -> dict[str, Any]:
    """Add the deploy key and the push webhook (signing with the trigger's token) to the GitHub
    repository; the configuration with their ids. Nothing stays behind when one fails."""
    gh, source = client(rt, trigger), clean["build_source"]
    title = f"Wharf Builder {rt.settings.public_origin}"
    try:
        key_id = await gh.add_deploy_key(source, title, public_key)
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None
    try:
        hook_id = await gh.add_push_hook(source, hook_url, token)
    except GitHubError as e:
        await gh.remove_deploy_key(source, key_id)
        raise GitHubRefused(str(e)) from None
    return {**clean, "deploy_key_id": key_id, "hook_id": hook_id}


async def uninstall(rt: Runtime, trigger: TriggerRecord) -> None:
    """Remove the trigger's deploy key and webhook from the GitHub repository. With the OAuth
    application no longer configured, or a token GitHub refuses (the user revoked it), there is
    no way to: the trigger goes anyway, as GitLab's and Bitbucket's do, rather than never (a key
    and a webhook then stay at GitHub for someone to remove by hand: the log says so)."""
    source = trigger.config.get("build_source")
    if not is_github(trigger) or not isinstance(source, str):
        return
    if not enabled(rt):
        trigger_common.left_without_application(trigger, NAME, source)
        return
    gh = client(rt, trigger)
    try:
        if isinstance(trigger.config.get("deploy_key_id"), int):
            await gh.remove_deploy_key(source, trigger.config["deploy_key_id"])
        if isinstance(trigger.config.get("hook_id"), int):
            await gh.remove_hook(source, trigger.config["hook_id"])
    except GitHubTokenRefused as e:
        trigger_common.left_behind(trigger, NAME, source, e)
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None


async def ref_sha(rt: Runtime, trigger: TriggerRecord, kind: str, name: str) -> str:
    """The commit a branch or tag of the trigger's repository points at (a manual start)."""
    try:
        return await client(rt, trigger).ref_sha(str(trigger.config["build_source"]), kind, name)
    except GitHubError as e:
        raise GitHubRefused(str(e)) from None

"""GitLab build triggers connected through Wharf's OAuth application (Quay's GitLab trigger,
GITLAB_TRIGGER_CONFIG with FEATURE_GITLAB_BUILD). The same flow as services/github_triggers.py:

A repository admin connects one from the web UI: GitLab asks them to let Wharf in and sends the
browser back to /oauth2/gitlab/callback/trigger with a code. GitLab wants that redirect URI to
be exactly the registered one, so the repository travels in the sealed state, not in the path.
Wharf trades the code for a grant and creates an inactive `gitlab` trigger holding it (sealed).
With it Wharf lists the user's namespaces, projects, branches, tags and Dockerfiles, and on
activation adds the deploy key and the push webhook to the GitLab project (its `token` is the
trigger's, which GitLab sends as X-Gitlab-Token); deleting the trigger removes both. An expired
access token is renewed with the grant's refresh token before a call, and the new grant kept.

Only the user who connected a trigger may browse GitLab with its token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wharf.auth.identity import Identity
from wharf.core import build_triggers, trigger_payloads
from wharf.core.build_triggers import TriggerRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.integrations import git_files, gitlab_repos
from wharf.integrations.gitlab_repos import (
    GitLabApp,
    GitLabError,
    GitLabGrantRefused,
    GitLabNotFound,
    GitLabRepos,
    GitLabTokenRefused,
)
from wharf.integrations.oauth_grant import Grant
from wharf.runtime import Runtime
from wharf.services import trigger_common, trigger_oauth

CALLBACK_PATH = "/oauth2/gitlab/callback/trigger"
NAME = "GitLab"
# A project's path with its namespace, which may hold subgroups: `group/sub/project`.
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}(/[A-Za-z0-9_.-]{1,255}){1,20}$")
_MAINTAINER = 40
"""GitLab's access level from which a member may add deploy keys and webhooks."""


class GitLabTriggersOff(NotFound):
    """FEATURE_GITLAB_BUILD is off or GITLAB_TRIGGER_CONFIG is missing."""


class GitLabRefused(InvalidInput):
    """GitLab refused or failed what the trigger asked of it: the message says what."""


def application(rt: Runtime) -> GitLabApp:
    app = gitlab_repos.application(rt.settings)
    if app is None:
        raise GitLabTriggersOff(
            "GitLab build triggers are not set up on this registry (FEATURE_GITLAB_BUILD)"
        )
    return app


def enabled(rt: Runtime) -> bool:
    return gitlab_repos.application(rt.settings) is not None


def repository_url(rt: Runtime, full_name: str) -> str:
    return gitlab_repos.repository_url(application(rt), full_name)


def callback_url(rt: Runtime) -> str:
    return rt.settings.public_origin + CALLBACK_PATH


# --- connecting ----------------------------------------------------------------------------------


def connect_url(rt: Runtime, who: Identity, repo: RepositoryRecord) -> str:
    """Where the browser goes to let Wharf into the user's GitLab account."""
    state = trigger_oauth.seal_state(rt, trigger_payloads.GITLAB, who, repo)
    return gitlab_repos.authorization_url(application(rt), redirect_uri=callback_url(rt), state=state)


def state_repository(rt: Runtime, state: str) -> str:
    """The repository a callback's state was made for (the callback's path does not say)."""
    return trigger_oauth.state_repository(rt, trigger_payloads.GITLAB, "GitLab", state)


async def connect(rt: Runtime, who: Identity, repo: RepositoryRecord, code: str, state: str) -> TriggerRecord:
    """GitLab's callback: trade the code for a grant and create an inactive trigger holding it
    (the surface checked admin on the repository the state names)."""
    if not rt.settings.FEATURE_BUILD_SUPPORT:
        raise GitLabTriggersOff("builds are disabled on this registry (FEATURE_BUILD_SUPPORT)")
    app = application(rt)
    trigger_oauth.check_state(rt, trigger_payloads.GITLAB, "GitLab", state, who, repo)
    try:
        grant = await gitlab_repos.exchange_code(
            app, rt.settings, code=code, redirect_uri=callback_url(rt), now_ms=now_ms()
        )
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None
    sealed = rt.secrets.seal(grant.dumps())
    return await rt.db.write(build_triggers.create, repo, trigger_payloads.GITLAB, who.account_id, sealed)


# --- the API as the connected user -------------------------------------------------------------


def is_gitlab(trigger: TriggerRecord) -> bool:
    return trigger.service == trigger_payloads.GITLAB and trigger.auth_token_sealed is not None


async def client(rt: Runtime, trigger: TriggerRecord) -> GitLabRepos:
    """GitLab's API with the trigger's token, renewed first (and kept) when it has run out."""
    app = application(rt)

    async def renew(grant: Grant) -> Grant:
        try:
            return await gitlab_repos.refresh(
                app, rt.settings, grant, redirect_uri=callback_url(rt), now_ms=now_ms()
            )
        except GitLabGrantRefused as e:
            raise trigger_oauth.Disconnected(str(e)) from None
        except GitLabError as e:
            raise GitLabRefused(str(e)) from None

    grant = await trigger_oauth.live_grant(rt, trigger, trigger_payloads.GITLAB, "GitLab", renew)
    return GitLabRepos(app, rt.settings, grant.access_token)


async def _own(rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str) -> TriggerRecord:
    return await trigger_common.own(rt, who, repo, trigger_uuid, trigger_payloads.GITLAB, NAME)


async def namespaces(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str
) -> list[dict[str, Any]]:
    """The user's own namespace and their groups (Quay's listTriggerBuildSourceNamespaces): the
    id is GitLab's numeric one, as Quay gives it."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    if not is_gitlab(trigger):
        return []
    try:
        found = await (await client(rt, trigger)).namespaces()
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None
    return [
        {
            "personal": n.get("kind") == "user",
            "id": str(n["id"]),
            "title": n.get("name") or n.get("full_path") or str(n["id"]),
            "avatar_url": n.get("avatar_url"),
            "url": n.get("web_url") or "",
            "score": 1,
        }
        for n in found
        if isinstance(n.get("id"), int)
    ]


def _level(permissions: Mapping[str, Any], kind: str) -> int:
    found = permissions.get(kind)
    level = found.get("access_level") if isinstance(found, dict) else None
    return level if isinstance(level, int) else 0


def _source_view(found: Mapping[str, Any]) -> dict[str, Any]:
    permissions = found.get("permissions")
    # Without the permissions GitLab cannot say; as Quay, offer the project and let GitLab refuse.
    admin = (
        max(_level(permissions, "project_access"), _level(permissions, "group_access")) >= _MAINTAINER
        if isinstance(permissions, dict) and permissions
        else True
    )
    return {
        "name": found.get("path"),
        "full_name": found.get("path_with_namespace"),
        "description": found.get("description") or "",
        "last_updated": trigger_oauth.timestamp(found.get("last_activity_at")),
        "url": found.get("web_url"),
        "has_admin_permissions": admin,
        "private": found.get("visibility") == "private",
    }


async def sources(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, namespace: str
) -> list[dict[str, Any]]:
    """The projects of one namespace (Quay's listTriggerBuildSources): a group's, or the user's own."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    if not is_gitlab(trigger) or not namespace.isdigit():
        return []
    gl = await client(rt, trigger)
    try:
        found_namespace = await gl.namespace(namespace)
        if found_namespace.get("kind") == "group":
            found = await gl.group_projects(namespace)
        else:
            found = await gl.user_projects(int((await gl.user())["id"]))
    except GitLabNotFound:
        return []
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None
    return [_source_view(p) for p in found if isinstance(p.get("path_with_namespace"), str)]


async def _branches(gl: GitLabRepos, full_name: str) -> list[str]:
    """The branches, the default one first."""
    default = (await gl.project(full_name)).get("default_branch")
    branches = await gl.branches(full_name)
    return trigger_common.default_first(default, branches)


async def field_values(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, field: str
) -> list[Any] | None:
    """Values of a manual run's field (Quay's listTriggerFieldValues): branch_name, tag_name, refs."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    source = trigger.config.get("build_source")
    if field not in trigger_common.REF_FIELDS or not is_gitlab(trigger):
        return None
    if not isinstance(source, str):
        return []
    gl = await client(rt, trigger)
    try:
        branches = await _branches(gl, source) if field in ("branch_name", "refs") else []
        tags = await gl.tags(source) if field in ("tag_name", "refs") else []
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None
    return trigger_common.field_values(field, branches, tags)


async def subdirs(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The Dockerfiles of the first branch the configuration builds (Quay's listBuildTriggerSubdirs)."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    empty = trigger_common.subdirs_found([])
    source = config.get("build_source") or trigger.config.get("build_source")
    if not is_gitlab(trigger) or not isinstance(source, str) or not _FULL_NAME.match(source):
        return empty
    gl = await client(rt, trigger)
    try:
        branches = trigger_common.matching_branches(await _branches(gl, source), config)
        if not branches:
            return empty
        paths = await gl.tree_paths(source, branches[0])
    except GitLabNotFound:
        return empty
    except GitLabError as e:
        return {"status": "error", "message": str(e)}
    return trigger_common.subdirs_found(paths)


async def dockerfile(rt: Runtime, trigger: TriggerRecord, clean: Mapping[str, Any]) -> bytes | None:
    """The configuration's Dockerfile (analyzeBuildTrigger) as Quay reads it: on the default
    branch when the configuration builds it, else on the first branch it builds; None when it is
    not there, or no branch is built."""
    gl, source = await client(rt, trigger), clean["build_source"]
    try:
        branches = trigger_common.matching_branches(await _branches(gl, source), clean)
        if not branches:
            return None
        return await gl.file(source, clean["dockerfile_path"], branches[0], git_files.MAX_FILE)
    except GitLabNotFound:
        return None
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None


# --- activation and removal (called by services/build_triggers.py) -----------------------------


def check_source(source: object) -> str:
    """A GitLab trigger's build_source: the project's path with its namespace, as Quay keeps it."""
    if not isinstance(source, str) or len(source) > 1024 or not _FULL_NAME.match(source.strip()):
        raise InvalidInput("build_source must name a GitLab project as namespace/name", field="build_source")
    return source.strip()


async def describe(rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any]) -> dict[str, Any]:
    """The configuration with what GitLab says of the project: the URL to clone over SSH (with
    the deploy key) and its default branch."""
    try:
        found = await (await client(rt, trigger)).project(clean["build_source"])
    except GitLabNotFound:
        raise GitLabRefused(f"Unable to find GitLab repository for source: {clean['build_source']}") from None
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None
    ssh_url = found.get("ssh_url_to_repo")
    if not isinstance(ssh_url, str) or not ssh_url:
        raise GitLabRefused(f"GitLab gave no SSH URL for {clean['build_source']}")
    described = {**clean, "git_url": ssh_url}
    if isinstance(found.get("default_branch"), str):
        described["default_branch"] = found["default_branch"]
    return described


async def install(
    rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any], public_key: str, hook_url: str, token: str
) -> dict[str, Any]:
    """Add the deploy key and the push webhook to the GitLab project; the configuration with
    their ids (Quay's `key_id` and `hook_id`). Nothing stays behind when one fails."""
    gl, source = await client(rt, trigger), clean["build_source"]
    title = f"Wharf Builder {rt.settings.public_origin}"
    try:
        key_id = await gl.add_deploy_key(source, title, public_key)
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None
    try:
        hook_id = await gl.add_push_hook(source, hook_url, token)
    except GitLabError as e:
        await gl.remove_deploy_key(source, key_id)
        raise GitLabRefused(str(e)) from None
    return {**clean, "key_id": key_id, "hook_id": hook_id}


async def uninstall(rt: Runtime, trigger: TriggerRecord) -> None:
    """Remove the trigger's deploy key and webhook from the GitLab project. With the OAuth
    application no longer configured, or a grant GitLab refuses to renew (the user revoked it),
    there is no way to: the trigger goes anyway, as in Quay, rather than never (the key and the
    webhook then stay at GitLab for someone to remove by hand)."""
    source = trigger.config.get("build_source")
    if not is_gitlab(trigger) or not isinstance(source, str):
        return
    if not enabled(rt):
        trigger_common.left_without_application(trigger, NAME, source)
        return
    try:
        gl = await client(rt, trigger)
    except trigger_oauth.Disconnected as e:
        trigger_common.left_behind(trigger, NAME, source, e)
        return
    try:
        if isinstance(trigger.config.get("hook_id"), int):
            await gl.remove_hook(source, trigger.config["hook_id"])
        if isinstance(trigger.config.get("key_id"), int):
            await gl.remove_deploy_key(source, trigger.config["key_id"])
    except GitLabTokenRefused as e:
        trigger_common.left_behind(trigger, NAME, source, e)
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None


async def ref_sha(rt: Runtime, trigger: TriggerRecord, kind: str, name: str) -> str:
    """The commit a branch or tag of the trigger's project points at (a manual start)."""
    try:
        return await (await client(rt, trigger)).ref_sha(str(trigger.config["build_source"]), kind, name)
    except GitLabError as e:
        raise GitLabRefused(str(e)) from None

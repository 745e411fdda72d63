"""Bitbucket build triggers connected through Wharf's OAuth consumer (Quay's Bitbucket trigger,
BITBUCKET_TRIGGER_CONFIG with FEATURE_BITBUCKET_BUILD). The flow of services/gitlab_triggers.py:

Bitbucket sends the browser back to the consumer's registered callback URL,
/oauth2/bitbucket/callback/trigger (Quay's path), so the repository travels in the sealed state.
The `bitbucket` trigger holds the grant (sealed); Wharf lists the user's workspaces, their
repositories, branches, tags and Dockerfiles, and on activation adds the deploy key and a
`repo:push` webhook whose secret is the trigger's token, so Bitbucket signs every delivery
(X-Hub-Signature). Their ids are Quay's `deploy_key_id` and `webhook_id`. Deleting the trigger
removes both. An expired access token is renewed with the refresh token first, and the new grant
kept. Only the user who connected a trigger may browse Bitbucket with its token.
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
from wharf.integrations import bitbucket_repos, git_files
from wharf.integrations.bitbucket_repos import (
    BitbucketApp,
    BitbucketError,
    BitbucketGrantRefused,
    BitbucketNotFound,
    BitbucketRepos,
    BitbucketTokenRefused,
)
from wharf.integrations.oauth_grant import Grant
from wharf.runtime import Runtime
from wharf.services import trigger_common, trigger_oauth

CALLBACK_PATH = "/oauth2/bitbucket/callback/trigger"
NAME = "Bitbucket"
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


class BitbucketTriggersOff(NotFound):
    """FEATURE_BITBUCKET_BUILD is off or BITBUCKET_TRIGGER_CONFIG is missing."""


class BitbucketRefused(InvalidInput):
    """Bitbucket refused or failed what the trigger asked of it: the message says what."""


def application(rt: Runtime) -> BitbucketApp:
    app = bitbucket_repos.application(rt.settings)
    if app is None:
        raise BitbucketTriggersOff(
            "Bitbucket build triggers are not set up on this registry (FEATURE_BITBUCKET_BUILD)"
        )
    return app


def enabled(rt: Runtime) -> bool:
    return bitbucket_repos.application(rt.settings) is not None


def repository_url(rt: Runtime, full_name: str) -> str:
    return bitbucket_repos.repository_url(application(rt), full_name)


# --- connecting ----------------------------------------------------------------------------------


def connect_url(rt: Runtime, who: Identity, repo: RepositoryRecord) -> str:
    state = trigger_oauth.seal_state(rt, trigger_payloads.BITBUCKET, who, repo)
    return bitbucket_repos.authorization_url(application(rt), state=state)


def state_repository(rt: Runtime, state: str) -> str:
    return trigger_oauth.state_repository(rt, trigger_payloads.BITBUCKET, "Bitbucket", state)


async def connect(rt: Runtime, who: Identity, repo: RepositoryRecord, code: str, state: str) -> TriggerRecord:
    """Bitbucket's callback: trade the code for a grant and create an inactive trigger holding it."""
    if not rt.settings.FEATURE_BUILD_SUPPORT:
        raise BitbucketTriggersOff("builds are disabled on this registry (FEATURE_BUILD_SUPPORT)")
    app = application(rt)
    trigger_oauth.check_state(rt, trigger_payloads.BITBUCKET, "Bitbucket", state, who, repo)
    try:
        grant = await bitbucket_repos.exchange_code(app, rt.settings, code=code, now_ms=now_ms())
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None
    sealed = rt.secrets.seal(grant.dumps())
    return await rt.db.write(build_triggers.create, repo, trigger_payloads.BITBUCKET, who.account_id, sealed)


# --- the API as the connected user -------------------------------------------------------------


def is_bitbucket(trigger: TriggerRecord) -> bool:
    return trigger.service == trigger_payloads.BITBUCKET and trigger.auth_token_sealed is not None


async def client(rt: Runtime, trigger: TriggerRecord) -> BitbucketRepos:
    """Bitbucket's API with the trigger's token, renewed first (and kept) when it has run out."""
    app = application(rt)

    async def renew(grant: Grant) -> Grant:
        try:
            return await bitbucket_repos.refresh(app, rt.settings, grant, now_ms=now_ms())
        except BitbucketGrantRefused as e:
            raise trigger_oauth.Disconnected(str(e)) from None
        except BitbucketError as e:
            raise BitbucketRefused(str(e)) from None

    grant = await trigger_oauth.live_grant(rt, trigger, trigger_payloads.BITBUCKET, "Bitbucket", renew)
    return BitbucketRepos(app, rt.settings, grant.access_token)


async def _own(rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str) -> TriggerRecord:
    return await trigger_common.own(rt, who, repo, trigger_uuid, trigger_payloads.BITBUCKET, NAME)


def _href(found: Mapping[str, Any], name: str) -> str | None:
    links = found.get("links")
    link = links.get(name) if isinstance(links, dict) else None
    href = link.get("href") if isinstance(link, dict) else None
    return href if isinstance(href, str) else None


async def namespaces(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str
) -> list[dict[str, Any]]:
    """The user's workspaces, their own one `personal` (Quay's listTriggerBuildSourceNamespaces)."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    if not is_bitbucket(trigger):
        return []
    bb = await client(rt, trigger)
    try:
        me = await bb.user()
        found = await bb.workspaces()
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None
    return [
        {
            "personal": w["slug"] == me["username"],
            "id": w["slug"],
            "title": w.get("name") or w["slug"],
            "avatar_url": _href(w, "avatar"),
            "url": _href(w, "html") or "",
            "score": 1,
        }
        for w in found
        if isinstance(w.get("slug"), str)
    ]


def _source_view(found: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": found.get("slug") or found.get("name"),
        "full_name": found.get("full_name"),
        "description": found.get("description") or "",
        "last_updated": trigger_oauth.timestamp(found.get("updated_on")),
        "url": _href(found, "html"),
        # Bitbucket's list does not say; as Quay, offer it and let Bitbucket refuse the key or hook.
        "has_admin_permissions": True,
        "private": bool(found.get("is_private")),
    }


async def sources(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, namespace: str
) -> list[dict[str, Any]]:
    """The repositories of one workspace the user is a member of (Quay's listTriggerBuildSources)."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    if not is_bitbucket(trigger):
        return []
    bb = await client(rt, trigger)
    try:
        found = await bb.repositories(namespace)
    except BitbucketNotFound:
        return []
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None
    return [_source_view(r) for r in found if isinstance(r.get("full_name"), str)]


async def _branches(bb: BitbucketRepos, full_name: str) -> list[str]:
    """The branches, the main one first."""
    main = (await bb.repository(full_name)).get("mainbranch")
    default = main.get("name") if isinstance(main, dict) else None
    branches = await bb.branches(full_name)
    return trigger_common.default_first(default, branches)


async def field_values(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, field: str
) -> list[Any] | None:
    """Values of a manual run's field (Quay's listTriggerFieldValues): branch_name, tag_name, refs."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    source = trigger.config.get("build_source")
    if field not in trigger_common.REF_FIELDS or not is_bitbucket(trigger):
        return None
    if not isinstance(source, str):
        return []
    bb = await client(rt, trigger)
    try:
        branches = await _branches(bb, source) if field in ("branch_name", "refs") else []
        tags = await bb.tags(source) if field in ("tag_name", "refs") else []
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None
    return trigger_common.field_values(field, branches, tags)


async def subdirs(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The Dockerfiles of the first branch the configuration builds (Quay's listBuildTriggerSubdirs)."""
    trigger = await _own(rt, who, repo, trigger_uuid)
    empty = trigger_common.subdirs_found([])
    source = config.get("build_source") or trigger.config.get("build_source")
    if not is_bitbucket(trigger) or not isinstance(source, str) or not _FULL_NAME.match(source):
        return empty
    bb = await client(rt, trigger)
    try:
        branches = trigger_common.matching_branches(await _branches(bb, source), config)
        if not branches:
            return empty
        paths = await bb.file_paths(source, await bb.ref_sha(source, "branch", branches[0]))
    except BitbucketNotFound:
        return empty
    except BitbucketError as e:
        return {"status": "error", "message": str(e)}
    return trigger_common.subdirs_found(paths)


async def dockerfile(rt: Runtime, trigger: TriggerRecord, clean: Mapping[str, Any]) -> bytes | None:
    """The configuration's Dockerfile on the main branch (analyzeBuildTrigger; Quay reads
    `master` whatever the main branch is), None when it is not there."""
    bb, source = await client(rt, trigger), clean["build_source"]
    try:
        main = (await _branches(bb, source))[:1]
        if not main:
            return None
        sha = await bb.ref_sha(source, "branch", main[0])
        return await bb.file(source, clean["dockerfile_path"], sha, git_files.MAX_FILE)
    except BitbucketNotFound:
        return None
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None


# --- activation and removal (called by services/build_triggers.py) -----------------------------


def check_source(source: object) -> str:
    """A Bitbucket trigger's build_source: the repository's `workspace/slug`, as Quay keeps it."""
    if not isinstance(source, str) or not _FULL_NAME.match(source.strip()):
        raise InvalidInput(
            "build_source must name a Bitbucket repository as workspace/name", field="build_source"
        )
    return source.strip()


def _ssh_url(found: Mapping[str, Any]) -> str | None:
    links = found.get("links")
    clones = links.get("clone") if isinstance(links, dict) else None
    for clone in clones if isinstance(clones, list) else []:
        if isinstance(clone, dict) and clone.get("name") == "ssh" and isinstance(clone.get("href"), str):
            return str(clone["href"])
    return None


async def describe(rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any]) -> dict[str, Any]:
    """The configuration with what Bitbucket says of the repository: the URL to clone over SSH
    (with the deploy key) and its main branch."""
    try:
        found = await (await client(rt, trigger)).repository(clean["build_source"])
    except BitbucketNotFound:
        raise BitbucketRefused(
            f"Unable to find Bitbucket repository for source: {clean['build_source']}"
        ) from None
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None
    ssh_url = _ssh_url(found)
    if not ssh_url:
        raise BitbucketRefused(f"Bitbucket gave no SSH URL for {clean['build_source']}")
    described = {**clean, "git_url": ssh_url}
    main = found.get("mainbranch")
    if isinstance(main, dict) and isinstance(main.get("name"), str):
        described["default_branch"] = main["name"]
    return described


async def install(
    rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any], public_key: str, hook_url: str, token: str
) -> dict[str, Any]:
    """Add the deploy key and the push webhook to the Bitbucket repository; the configuration with
    their ids. Nothing stays behind when one fails."""
    bb, source = await client(rt, trigger), clean["build_source"]
    label = f"Wharf Builder {rt.settings.public_origin}"
    try:
        key_id = await bb.add_deploy_key(source, label, public_key)
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None
    try:
        hook_uuid = await bb.add_push_hook(source, hook_url, token)
    except BitbucketError as e:
        await bb.remove_deploy_key(source, key_id)
        raise BitbucketRefused(str(e)) from None
    return {**clean, "deploy_key_id": key_id, "webhook_id": hook_uuid}


async def uninstall(rt: Runtime, trigger: TriggerRecord) -> None:
    """Remove the trigger's deploy key and webhook from the Bitbucket repository (without the
    consumer, or with a grant Bitbucket no longer renews, the trigger goes anyway, as in Quay)."""
    source = trigger.config.get("build_source")
    if not is_bitbucket(trigger) or not isinstance(source, str):
        return
    if not enabled(rt):
        trigger_common.left_without_application(trigger, NAME, source)
        return
    try:
        bb = await client(rt, trigger)
    except trigger_oauth.Disconnected as e:
        trigger_common.left_behind(trigger, NAME, source, e)
        return
    try:
        if isinstance(trigger.config.get("webhook_id"), str):
            await bb.remove_hook(source, trigger.config["webhook_id"])
        if isinstance(trigger.config.get("deploy_key_id"), int):
            await bb.remove_deploy_key(source, trigger.config["deploy_key_id"])
    except BitbucketTokenRefused as e:
        trigger_common.left_behind(trigger, NAME, source, e)
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None


async def ref_sha(rt: Runtime, trigger: TriggerRecord, kind: str, name: str) -> str:
    try:
        return await (await client(rt, trigger)).ref_sha(str(trigger.config["build_source"]), kind, name)
    except BitbucketError as e:
        raise BitbucketRefused(str(e)) from None

"""Build triggers connected to a git service through its OAuth application (GitHub, GitLab):
which service's module answers for a trigger. The API, the web pages and services/build_triggers.py
ask here, so a third service is one more branch in each function, not in every caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wharf.auth.identity import Identity
from wharf.core import build_triggers, trigger_payloads
from wharf.core.build_triggers import TriggerRecord
from wharf.core.errors import NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.runtime import Runtime
from wharf.services import github_triggers, gitlab_triggers

NAMES = {trigger_payloads.GITHUB: "GitHub", trigger_payloads.GITLAB: "GitLab"}
"""The services a trigger can be connected to, and what the UI calls them."""


def is_connected(trigger: TriggerRecord) -> bool:
    """Connected through an OAuth application: Wharf browses the service and installs the key and hook."""
    return github_triggers.is_github(trigger) or gitlab_triggers.is_gitlab(trigger)


def enabled(rt: Runtime) -> list[str]:
    """The services whose OAuth application is configured, in the order the UI offers them."""
    return [
        service
        for service, on in (
            (trigger_payloads.GITHUB, github_triggers.enabled(rt)),
            (trigger_payloads.GITLAB, gitlab_triggers.enabled(rt)),
        )
        if on
    ]


def repository_url(rt: Runtime, trigger: TriggerRecord) -> str | None:
    """The source's page at the service (Quay's repository_url), when the service is still configured."""
    source = trigger.config.get("build_source")
    if not source:
        return None
    if github_triggers.is_github(trigger) and github_triggers.enabled(rt):
        return github_triggers.repository_url(rt, str(source))
    if gitlab_triggers.is_gitlab(trigger) and gitlab_triggers.enabled(rt):
        return gitlab_triggers.repository_url(rt, str(source))
    return None


def check_source(service: str, source: object) -> str:
    if service == trigger_payloads.GITLAB:
        return gitlab_triggers.check_source(source)
    return github_triggers.check_source(source)


async def describe(rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any]) -> dict[str, Any]:
    if gitlab_triggers.is_gitlab(trigger):
        return await gitlab_triggers.describe(rt, trigger, clean)
    return await github_triggers.describe(rt, trigger, clean)


async def install(
    rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any], public_key: str, hook_url: str, token: str
) -> dict[str, Any]:
    if gitlab_triggers.is_gitlab(trigger):
        return await gitlab_triggers.install(rt, trigger, clean, public_key, hook_url, token)
    return await github_triggers.install(rt, trigger, clean, public_key, hook_url, token)


async def uninstall(rt: Runtime, trigger: TriggerRecord) -> None:
    """Remove what activation installed at the service (nothing for a trigger not connected)."""
    if gitlab_triggers.is_gitlab(trigger):
        await gitlab_triggers.uninstall(rt, trigger)
    else:
        await github_triggers.uninstall(rt, trigger)


async def ref_sha(rt: Runtime, trigger: TriggerRecord, kind: str, name: str) -> str:
    if gitlab_triggers.is_gitlab(trigger):
        return await gitlab_triggers.ref_sha(rt, trigger, kind, name)
    return await github_triggers.ref_sha(rt, trigger, kind, name)


# --- the setup wizard's helpers -------------------------------------------------------------------


async def _service(rt: Runtime, repo: RepositoryRecord, trigger_uuid: str) -> str:
    trigger = await rt.db.read(build_triggers.get_in, repo.id, trigger_uuid)
    if trigger is None:
        raise NotFound(f"no build trigger {trigger_uuid} in {repo.full_name}")
    return trigger.service


async def namespaces(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str
) -> list[dict[str, Any]]:
    if await _service(rt, repo, trigger_uuid) == trigger_payloads.GITLAB:
        return await gitlab_triggers.namespaces(rt, who, repo, trigger_uuid)
    return await github_triggers.namespaces(rt, who, repo, trigger_uuid)


async def sources(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, namespace: str
) -> list[dict[str, Any]]:
    if await _service(rt, repo, trigger_uuid) == trigger_payloads.GITLAB:
        return await gitlab_triggers.sources(rt, who, repo, trigger_uuid, namespace)
    return await github_triggers.sources(rt, who, repo, trigger_uuid, namespace)


async def field_values(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, field: str
) -> list[Any] | None:
    if await _service(rt, repo, trigger_uuid) == trigger_payloads.GITLAB:
        return await gitlab_triggers.field_values(rt, who, repo, trigger_uuid, field)
    return await github_triggers.field_values(rt, who, repo, trigger_uuid, field)


async def subdirs(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    if await _service(rt, repo, trigger_uuid) == trigger_payloads.GITLAB:
        return await gitlab_triggers.subdirs(rt, who, repo, trigger_uuid, config)
    return await github_triggers.subdirs(rt, who, repo, trigger_uuid, config)


async def source_names(rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str) -> list[str]:
    """Every source the user may pick for the trigger, across their namespaces (the web wizard's list)."""
    found: list[str] = []
    for namespace in await namespaces(rt, who, repo, trigger_uuid):
        found += [str(s["full_name"]) for s in await sources(rt, who, repo, trigger_uuid, namespace["id"])]
    return found

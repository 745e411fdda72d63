"""Build triggers connected to a git service through its OAuth application (GitHub, GitLab,
Bitbucket): which service's module answers for a trigger. The API, the web pages and
services/build_triggers.py ask here; each service's module offers the same functions
(ConnectedService).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from wharf.auth.identity import Identity
from wharf.core import build_triggers, trigger_payloads
from wharf.core.build_triggers import TriggerRecord
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.runtime import Runtime
from wharf.services import bitbucket_triggers, github_triggers, gitlab_triggers


class ConnectedService(Protocol):
    """What each service's module (services/<service>_triggers.py) offers."""

    def enabled(self, rt: Runtime) -> bool: ...
    def repository_url(self, rt: Runtime, full_name: str) -> str: ...
    def check_source(self, source: object) -> str: ...
    async def describe(
        self, rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any]
    ) -> dict[str, Any]: ...
    async def install(
        self,
        rt: Runtime,
        trigger: TriggerRecord,
        clean: dict[str, Any],
        public_key: str,
        hook_url: str,
        token: str,
    ) -> dict[str, Any]: ...
    async def uninstall(self, rt: Runtime, trigger: TriggerRecord) -> None: ...
    async def dockerfile(
        self, rt: Runtime, trigger: TriggerRecord, clean: Mapping[str, Any]
    ) -> bytes | None: ...
    async def ref_sha(self, rt: Runtime, trigger: TriggerRecord, kind: str, name: str) -> str: ...
    async def namespaces(
        self, rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str
    ) -> list[dict[str, Any]]: ...
    async def sources(
        self, rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, namespace: str
    ) -> list[dict[str, Any]]: ...
    async def field_values(
        self, rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, field: str
    ) -> list[Any] | None: ...
    async def subdirs(
        self, rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
    ) -> dict[str, Any]: ...


_MODULES: dict[str, ConnectedService] = {
    trigger_payloads.GITHUB: github_triggers,
    trigger_payloads.GITLAB: gitlab_triggers,
    trigger_payloads.BITBUCKET: bitbucket_triggers,
}
NAMES = {
    trigger_payloads.GITHUB: "GitHub",
    trigger_payloads.GITLAB: "GitLab",
    trigger_payloads.BITBUCKET: "Bitbucket",
}
"""The services a trigger can be connected to, and what the UI calls them."""


def is_connected(trigger: TriggerRecord) -> bool:
    """Connected through an OAuth application: Wharf browses the service and installs the key
    and hook (a trigger of the same service created without one works as a custom git one)."""
    return trigger.service in _MODULES and trigger.auth_token_sealed is not None


def _module(trigger: TriggerRecord) -> ConnectedService | None:
    return _MODULES[trigger.service] if is_connected(trigger) else None


def enabled(rt: Runtime) -> list[str]:
    """The services whose OAuth application is configured, in the order the UI offers them."""
    return [service for service, module in _MODULES.items() if module.enabled(rt)]


def repository_url(rt: Runtime, trigger: TriggerRecord) -> str | None:
    """The source's page at the service (Quay's repository_url), when the service is still configured."""
    source, module = trigger.config.get("build_source"), _module(trigger)
    if not source or module is None or not module.enabled(rt):
        return None
    return module.repository_url(rt, str(source))


def check_source(service: str, source: object) -> str:
    return _MODULES[service].check_source(source)


def _connected(trigger: TriggerRecord) -> ConnectedService:
    module = _module(trigger)
    if module is None:
        raise InvalidInput("this trigger is not connected to a git service")
    return module


async def describe(rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any]) -> dict[str, Any]:
    return await _connected(trigger).describe(rt, trigger, clean)


async def install(
    rt: Runtime, trigger: TriggerRecord, clean: dict[str, Any], public_key: str, hook_url: str, token: str
) -> dict[str, Any]:
    return await _connected(trigger).install(rt, trigger, clean, public_key, hook_url, token)


async def uninstall(rt: Runtime, trigger: TriggerRecord) -> None:
    """Remove what activation installed at the service (nothing for a trigger not connected)."""
    module = _module(trigger)
    if module is not None:
        await module.uninstall(rt, trigger)


async def dockerfile(rt: Runtime, trigger: TriggerRecord, clean: Mapping[str, Any]) -> bytes | None:
    """The configuration's Dockerfile read through the service's API (analyzeBuildTrigger)."""
    return await _connected(trigger).dockerfile(rt, trigger, clean)


async def ref_sha(rt: Runtime, trigger: TriggerRecord, kind: str, name: str) -> str:
    return await _connected(trigger).ref_sha(rt, trigger, kind, name)


# --- the setup wizard's helpers -------------------------------------------------------------------


async def _service(rt: Runtime, repo: RepositoryRecord, trigger_uuid: str) -> ConnectedService:
    """The module that answers for the trigger (GitHub's for one not connected: it answers empty)."""
    trigger = await rt.db.read(build_triggers.get_in, repo.id, trigger_uuid)
    if trigger is None:
        raise NotFound(f"no build trigger {trigger_uuid} in {repo.full_name}")
    return _module(trigger) or github_triggers


async def namespaces(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str
) -> list[dict[str, Any]]:
    return await (await _service(rt, repo, trigger_uuid)).namespaces(rt, who, repo, trigger_uuid)


async def sources(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, namespace: str
) -> list[dict[str, Any]]:
    return await (await _service(rt, repo, trigger_uuid)).sources(rt, who, repo, trigger_uuid, namespace)


async def field_values(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, field: str
) -> list[Any] | None:
    return await (await _service(rt, repo, trigger_uuid)).field_values(rt, who, repo, trigger_uuid, field)


async def subdirs(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    return await (await _service(rt, repo, trigger_uuid)).subdirs(rt, who, repo, trigger_uuid, config)


async def source_names(rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str) -> list[str]:
    """Every source the user may pick for the trigger, across their namespaces (the web wizard's list)."""
    found: list[str] = []
    for namespace in await namespaces(rt, who, repo, trigger_uuid):
        found += [str(s["full_name"]) for s in await sources(rt, who, repo, trigger_uuid, namespace["id"])]
    return found

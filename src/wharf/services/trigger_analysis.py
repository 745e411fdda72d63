"""analyzeBuildTrigger: what a trigger's Dockerfile builds on, and whether its builds need a pull
robot, answered as Quay's trigger analyzer answers (endpoints/api/trigger_analyzer.py there).

The Dockerfile is read from the source: a connected trigger's through its service's API with
the connected user's token (GitHub's contents API on the default branch, GitLab's repository
files on the default branch when the configuration builds it, else the first branch it builds,
Bitbucket's `src` on the main branch: as Quay reads them, except that Quay reads Bitbucket's
`master` whatever the main branch is), at most git_files.MAX_FILE bytes; a custom git trigger's
by a shallow fetch of its default branch (`default_branch`, else the remote's HEAD) with the
trigger's deploy key once it has one (Quay answers `notimplemented` there). Its base image
(oci/dockerfile.py: the last stage's, through stage names and global ARG defaults, `scratch`
skipped, then the earlier stages') is looked up when it names a repository of this registry.
The statuses:

- `warning`: the Dockerfile is not on the branch, has no FROM, names a base Wharf cannot tell
  (a build argument without a default), or the git server could not be read;
- `error`: the configuration is invalid, the Dockerfile cannot be parsed or lies outside the
  context, the service (GitHub, GitLab, Bitbucket) refused, or the base repository is not
  found (or not readable: a private one of another namespace is "not found", as in Quay, since
  the trigger's robots cannot be granted there);
- `publicbase`: the base is elsewhere or public here: no robot is needed;
- `requiresrobot`: the base is a private repository of the trigger's namespace.

With each, as Quay: `namespace` and `name` of the base repository (the trigger's namespace and
none when there is no base here), `robots` (for an admin of the namespace, when the base is in
it: its robots, each with `can_read` the base), `is_admin`, `message`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, repositories, robots, trigger_payloads
from wharf.core.build_triggers import TriggerRecord
from wharf.core.errors import InvalidInput, NotAllowed
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.integrations import git_files, git_remote, outbound
from wharf.oci import dockerfile
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.services import build_triggers as trigger_service
from wharf.services import connected_triggers

WARNING, ERROR, PUBLIC_BASE, REQUIRES_ROBOT = "warning", "error", "publicbase", "requiresrobot"
NOT_FOUND_ON_BRANCH = (
    "Specified Dockerfile path for the trigger was not found on the main branch. This trigger may fail."
)


class _Unreadable(Exception):
    """The source could not be read (the message is for the person setting the trigger up)."""


def is_parent(context: str, dockerfile_path: str) -> bool:
    """Whether the Dockerfile lies inside the context (both relative to the repository's root)."""
    context = posixpath.normpath("/" + context).rstrip("/") + "/"
    subdir = posixpath.normpath("/" + posixpath.dirname(dockerfile_path)).rstrip("/") + "/"
    return subdir.startswith(context)


async def _from_service(rt: Runtime, trigger: TriggerRecord, clean: Mapping[str, Any]) -> bytes | None:
    try:
        return await connected_triggers.dockerfile(rt, trigger, clean)
    except InvalidInput as e:
        # The service refused or failed, or no longer honours the trigger's grant.
        raise _Unreadable(f"Could not analyze the repository: {e}") from None


async def _from_git(rt: Runtime, trigger: TriggerRecord | None, clean: Mapping[str, Any]) -> bytes | None:
    key = None
    if trigger is not None and trigger.private_key_sealed is not None:
        key = rt.secrets.open(trigger.private_key_sealed)
    url = trigger_service.git_url_of(clean)
    try:
        return await git_files.read_file(
            rt.settings,
            url,
            clean.get("default_branch"),
            clean["dockerfile_path"],
            key,
            trigger_service.pinned_host_keys(clean),
        )
    except (git_remote.BadRemote, outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise _Unreadable(f"Could not analyze the repository: {e}") from None
    except (git_files.GitFailed, TimeoutError) as e:
        reason = str(e) or f"no answer in {git_files.READ_TIMEOUT_S} seconds"
        hint = "" if key else " (the server may need the trigger's deploy key, made when it is activated)"
        raise _Unreadable(f"Could not read the Dockerfile from {url}: {reason}{hint}.") from None


def registry_hosts(rt: Runtime) -> set[str]:
    """The host[:port] names under which a Dockerfile names an image of this Wharf."""
    hosts = {rt.settings.public_host}
    if rt.settings.BUILDER_REGISTRY:
        hosts.add(urlsplit(rt.settings.BUILDER_REGISTRY).netloc)
    return hosts


def _ours(image: str, hosts: set[str]) -> str | None:
    """The repository path an image of this registry names (`ns/name`), None for another's."""
    for host in hosts:
        if image.startswith(host + "/"):
            return dockerfile.without_tag(image)[len(host) + 1 :]
    return None


async def analyze(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """analyzeBuildTrigger for the trigger `trigger_uuid` of `repo` with `config` (the caller is
    an admin of the repository)."""
    trigger = await trigger_service.get(rt, repo, trigger_uuid)
    return await analyze_config(rt, who, repo, trigger, config)


async def analyze_config(
    rt: Runtime,
    who: Identity,
    repo: RepositoryRecord,
    trigger: TriggerRecord | None,
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The analysis of `config` for a trigger of `repo`; with no trigger yet (the web form that
    sets up a custom git one in one step), a custom git source read without a deploy key."""
    connected = trigger if trigger is not None and connected_triggers.is_connected(trigger) else None
    service = connected.service if connected is not None else trigger_payloads.CUSTOM_GIT
    is_admin = await rt.db.read(_administers, who, repo.namespace)
    judge = _Judge(rt, who, repo.namespace, is_admin)
    try:
        clean = trigger_service.clean_config(config, service)
    except InvalidInput as e:
        return await judge.view(None, None, ERROR, str(e))
    if connected is not None and _browses_others(who, connected, clean):
        name = connected_triggers.NAMES[connected.service]
        raise NotAllowed(f"only the user who connected this trigger to {name} may read {name} through it")
    try:
        if connected is not None:
            contents = await _from_service(rt, connected, clean)
        else:
            contents = await _from_git(rt, trigger, clean)
    except _Unreadable as e:
        return await judge.view(None, None, WARNING if connected is None else ERROR, str(e))
    if contents is None:
        return await judge.view(None, None, WARNING, NOT_FOUND_ON_BRANCH)
    try:
        found = dockerfile.stages(contents)
    except dockerfile.NotADockerfile:
        return await judge.view(None, None, ERROR, "Could not parse the Dockerfile specified")
    if config.get("context") and not is_parent(clean["context"], clean["dockerfile_path"]):
        message = (
            f"Dockerfile, /{clean['dockerfile_path']}, is not a child of the context, /{clean['context']}."
        )
        return await judge.view(None, None, ERROR, message)
    if not found:
        return await judge.view(None, None, WARNING, "No FROM line found in the Dockerfile")
    return await judge.base(dockerfile.base_images(contents), registry_hosts(rt))


def _browses_others(who: Identity, trigger: TriggerRecord, clean: Mapping[str, Any]) -> bool:
    """Whether another admin than the one who connected the trigger asks about another
    repository than the trigger's: refused, as the wizard's helpers refuse browsing the service
    with the connected user's token (the trigger's own repository may be checked by any admin)."""
    other_user = who.account_id != trigger.connected_user_id
    return other_user and clean["build_source"] != trigger.config.get("build_source")


def _administers(db: Db, who: Identity, namespace: str) -> bool:
    return permissions.administers_namespace(db, who, accounts.get_by_name(db, namespace))


class _Judge:
    """The answer's shape, and the lookups it needs, for one caller and namespace."""

    def __init__(self, rt: Runtime, who: Identity, namespace: str, is_admin: bool) -> None:
        self.rt, self.who, self.namespace, self.is_admin = rt, who, namespace, is_admin

    async def base(self, images: list[str], hosts: set[str]) -> dict[str, Any]:
        """The answer for the Dockerfile's base images (the last stage's first)."""
        ours = [(image, path) for image in images if (path := _ours(image, hosts)) is not None]
        if not ours:
            unknown = [image for image in images if dockerfile.is_unresolved(image)]
            if unknown:
                message = (
                    f"The base image {unknown[0]} names a build argument with no default: "
                    "Wharf cannot tell whether its builds need a pull robot"
                )
                return await self.view(None, None, WARNING, message)
            return await self.view(None, None, PUBLIC_BASE)
        image, path = ours[0]
        try:
            name = RepositoryName.parse(path)
        except ValueError:
            return await self.view(None, None, WARNING, f'"{image}" is not a valid repository path')
        found = await self.rt.db.read(repositories.get, name.namespace, name.name)
        readable = found is not None and (
            found.is_public
            or (
                name.namespace == self.namespace
                and await self.rt.db.read(self._can_read, self.who, name.namespace, name.name)
            )
        )
        if found is None or not readable:
            message = f'Repository "{image}" referenced by the Dockerfile was not found'
            return await self.view(None, None, ERROR, message)
        status = PUBLIC_BASE if found.is_public else REQUIRES_ROBOT
        return await self.view(name.namespace, name.name, status)

    def _can_read(self, db: Db, who: Identity, namespace: str, name: str) -> bool:
        access = permissions.repository_access(db, self.rt.settings, who, namespace, name)
        return permissions.PULL in access.actions

    def _robots(self, db: Db, base_namespace: str, base_name: str | None) -> list[dict[str, Any]]:
        owner = accounts.get_by_name(db, self.namespace)
        if owner is None:
            return []
        views = []
        for robot in robots.list_for(db, owner):
            can_read = False
            if base_name is not None:
                as_robot = Identity("robot", robot.account.id, robot.account.name)
                access = permissions.repository_access(
                    db, self.rt.settings, as_robot, base_namespace, base_name
                )
                # Granted, not merely public: Quay counts the users with a permission on it.
                can_read = permissions.PULL in access.actions and not access.public_only
            views.append({"name": robot.account.name, "kind": "user", "is_robot": True, "can_read": can_read})
        return views

    async def view(
        self, namespace: str | None, name: str | None, status: str, message: str | None = None
    ) -> dict[str, Any]:
        namespace = namespace or self.namespace
        robots_seen: list[dict[str, Any]] = []
        if self.is_admin and namespace == self.namespace:
            robots_seen = await self.rt.db.read(self._robots, namespace, name)
        return {
            "namespace": namespace,
            "name": name,
            "robots": robots_seen,
            "status": status,
            "message": message,
            "is_admin": self.is_admin,
        }

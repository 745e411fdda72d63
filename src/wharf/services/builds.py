"""Dockerfile builds, as /api/v1 asks for them and `wharf builder` runs them.

A build's input is a file the user dropped first (getFiledropUrl, then a PUT of the bytes to
/userfiles/<id>), or an archive URL fetched by the builder through the outbound guard. Requesting
a build checks who may (write on the repository, admin over a pull robot's namespace, the file
being theirs) and then records it and queues its job in one transaction (core/builds.py).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, audit, audit_kinds, builds, durations, robots, user_files
from wharf.core.builds import BuildRecord, BuildRequest
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotAllowed, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.user_files import UserFileRecord
from wharf.db.engine import Db
from wharf.integrations import outbound
from wharf.oci.names import RepositoryName, is_valid_tag
from wharf.runtime import Runtime


class BuildsDisabled(NotAllowed):
    """FEATURE_BUILD_SUPPORT is off."""


class FileTooLarge(InvalidInput):
    """An upload over USERFILES_MAX_SIZE."""


@dataclass(frozen=True, slots=True)
class BuildInput:
    """A requestRepoBuild body, as Quay names its fields."""

    file_id: str | None = None
    archive_url: str | None = None
    docker_tags: list[str] | None = None
    subdirectory: str | None = None
    dockerfile_path: str | None = None
    context: str | None = None
    pull_robot: str | None = None


def _require_enabled(rt: Runtime) -> None:
    if not rt.settings.FEATURE_BUILD_SUPPORT:
        raise BuildsDisabled("builds are disabled on this registry (FEATURE_BUILD_SUPPORT)")


# --- user files ----------------------------------------------------------------------------------


async def filedrop(rt: Runtime, who: Identity, mime_type: str) -> tuple[str, str]:
    """Reserve an upload for the caller: (the URL to PUT the file to, its file_id)."""
    _require_enabled(rt)
    if who.account_id is None:
        raise NotAllowed("sign in to upload a build file")
    lifetime_ms = rt.settings.USERFILES_EXPIRATION_S * 1000
    found = await rt.db.write(user_files.reserve, who.account_id, mime_type, lifetime_ms)
    return f"{rt.settings.public_origin}/userfiles/{found.id}", found.id


async def receive_file(
    rt: Runtime, who: Identity, file_id: str, body: AsyncIterator[bytes]
) -> UserFileRecord:
    """Store the bytes of a reserved upload: only its owner may send them, once, before it
    expires, and no more than USERFILES_MAX_SIZE (streamed: never held whole in memory)."""
    _require_enabled(rt)
    found = await rt.db.read(user_files.get, file_id)
    if found is None or found.owner_id != who.account_id or found.expires_ms < now_ms():
        raise NotFound("no such upload (it expired, or it is not yours)")
    if found.uploaded:
        raise InvalidInput("this file was uploaded already; ask for a new upload URL")
    limit = rt.settings.USERFILES_MAX_SIZE
    digest = hashlib.sha256()
    path = user_files.storage_path(file_id)
    writer = await rt.store.writer(path)
    try:
        async for chunk in body:
            if writer.size + len(chunk) > limit:
                raise FileTooLarge(f"a build file may be at most {limit} bytes", field="file_id")
            digest.update(chunk)
            await writer.write(chunk)
    except BaseException:
        await writer.cancel()
        raise
    size = writer.size
    await writer.close()
    if not await rt.db.write(user_files.mark_uploaded, file_id, size, digest.hexdigest()):
        raise InvalidInput("this file was uploaded already; ask for a new upload URL")
    return replace(found, size=size, sha256=digest.hexdigest())


# --- requesting, reading, cancelling -------------------------------------------------------------


def _clean(path: str, what: str) -> str:
    """A path inside the build context, without `..`: '' for its root."""
    if "\x00" in path or len(path) > 1024:
        raise InvalidInput(f"{what} is not a usable path", field=what)
    if ".." in path.replace("\\", "/").split("/"):
        raise InvalidInput(f"{what} may not leave the build context", field=what)
    return posixpath.normpath("/" + path.strip()).lstrip("/")


def dockerfile_and_context(body: BuildInput) -> tuple[str, str, str]:
    """(dockerfile_path, context, subdirectory) as Quay works them out from a request: an explicit
    dockerfile_path (context its directory unless given), a subdirectory (its Dockerfile), or the
    context alone."""
    if body.dockerfile_path is not None:
        dockerfile = _clean(body.dockerfile_path, "dockerfile_path")
        if not dockerfile:
            raise InvalidInput("dockerfile_path names no file", field="dockerfile_path")
        context = (
            _clean(body.context, "context") if body.context is not None else posixpath.dirname(dockerfile)
        )
        return dockerfile, context, posixpath.dirname(dockerfile)
    if body.subdirectory is not None:
        subdir = _clean(body.subdirectory, "subdirectory")
        return posixpath.join(subdir, "Dockerfile"), subdir, subdir
    context = _clean(body.context or "", "context")
    return posixpath.join(context, "Dockerfile"), context, context


def tags_of(wanted: list[str] | None) -> list[str]:
    """The tags a build pushes: those asked for (checked), else `latest`."""
    tags = wanted if wanted else ["latest"]
    if len(tags) != len(set(tags)) or len(tags) > 50:
        raise InvalidInput("docker_tags must be distinct (at most 50)", field="docker_tags")
    for tag in tags:
        if not is_valid_tag(tag):
            raise InvalidInput(f"{tag[:140]!r} is not a valid tag", field="docker_tags")
    return tags


def _pull_robot(db: Db, who: Identity, name: str) -> int:
    """The pull robot's account id, when the caller administers its namespace (as Quay asks)."""
    robot = robots.get_by_name(db, name)
    if robot is None:
        raise NotFound(f"no robot {name}", field="pull_robot")
    owner = accounts.get_by_name(db, robot.owner)
    if not permissions.administers_namespace(db, who, owner):
        raise NotAllowed(
            f"you may not use the robot {name}: you do not administer {robot.owner}", field="pull_robot"
        )
    return robot.account.id


def pull_robot_id(db: Db, who: Identity, name: str) -> int:
    """The pull robot's account id, when the caller administers its namespace (build triggers
    take one too)."""
    return _pull_robot(db, who, name)


def _resource(db: Db, who: Identity, repo: RepositoryRecord, file_id: str) -> UserFileRecord:
    found = user_files.get(db, file_id)
    if found is None or not found.uploaded:
        raise InvalidInput(f"File {file_id} could not be found or is invalid", field="file_id")
    # A file is the uploader's; a build of this very repository may be run again from it.
    if found.owner_id != who.account_id and builds.repository_of_resource(db, file_id) != repo.id:
        raise NotAllowed("this build file is not yours")
    return found


async def request_build(rt: Runtime, who: Identity, repo: RepositoryRecord, body: BuildInput) -> BuildRecord:
    """Queue a build of `repo` (the caller's write role checked by the surface)."""
    _require_enabled(rt)
    if not body.file_id and not body.archive_url:
        raise InvalidInput("file_id or archive_url required")
    if body.archive_url:
        # Checked now for its form; the builder checks the address it resolves to when it fetches.
        try:
            await outbound.check_url(body.archive_url, rt.settings, resolve=False)
        except outbound.OutboundRefused as e:
            raise InvalidInput(f"Invalid Archive URL: {e}", field="archive_url") from None
    dockerfile, context, subdir = dockerfile_and_context(body)
    tags = tags_of(body.docker_tags)

    def _create(db: Db) -> BuildRecord:
        robot_id = _pull_robot(db, who, body.pull_robot) if body.pull_robot else None
        if body.file_id:
            name = (_resource(db, who, repo, body.file_id).sha256 or "")[:7]
        else:
            name = hashlib.sha224((body.archive_url or "").encode()).hexdigest()[:7]
        request = BuildRequest(
            display_name=name,
            docker_tags=tags,
            dockerfile_path=dockerfile,
            context=context,
            subdirectory=subdir,
            archive_url=None if body.file_id else body.archive_url,
            resource_key=body.file_id or None,
            pull_robot_id=robot_id,
        )
        return builds.create(db, repo, request, _actor(who))

    return await rt.db.write(_create)


def _actor(who: Identity) -> audit.Actor:
    return audit.Actor(who.account_id, who.name, who.ip, kind=who.kind, origin=who.origin)


async def get(rt: Runtime, repo: RepositoryRecord, build_uuid: str) -> BuildRecord:
    found = await rt.db.read(builds.get_in, repo.id, build_uuid)
    if found is None:
        raise NotFound(f"no build {build_uuid} in {repo.full_name}")
    return found


async def get_any(rt: Runtime, build_uuid: str) -> BuildRecord:
    """A build of any repository (the superuser's views)."""
    found = await rt.db.read(builds.get, build_uuid)
    if found is None:
        raise NotFound(f"no build {build_uuid}")
    return found


async def list_builds(
    rt: Runtime, repo: RepositoryRecord, limit: int, since_s: int | None
) -> list[BuildRecord]:
    since_ms = since_s * 1000 if since_s is not None else None
    return await rt.db.read(builds.list_for, repo.id, limit, since_ms)


async def logs(rt: Runtime, build: BuildRecord, start: int) -> dict[str, Any]:
    """Quay's log answer: {start, total, logs}, the entries from `start` on."""
    total, entries = await rt.db.read(builds.read_logs, build.id, start)
    return {"start": start, "total": total, "logs": entries}


async def read_log(rt: Runtime, build: BuildRecord, start: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(the log's length, its entries from `start` on)."""
    return await rt.db.read(builds.read_logs, build.id, start)


async def cancel(rt: Runtime, who: Identity, repo: RepositoryRecord, build_uuid: str) -> BuildRecord:
    found = await get(rt, repo, build_uuid)
    return await rt.db.write(builds.cancel, found, repo, _actor(who))


async def prune_logs(rt: Runtime) -> int:
    """Delete the logs of builds finished longer than BUILD_LOGS_RETENTION ago."""
    keep_ms = durations.parse_seconds(rt.settings.BUILD_LOGS_RETENTION) * 1000
    return await rt.db.write(builds.prune_logs, now_ms() - keep_ms)


async def sweep_interrupted(rt: Runtime) -> list[str]:
    """Mark internalerror the running builds whose builder died (their job's lease ran out):
    they run again on the next builder while BUILD_MAX_ATTEMPTS allows. Their uuids."""
    return await rt.db.write(builds.sweep_interrupted, now_ms(), rt.settings.BUILD_MAX_ATTEMPTS)


async def forget_expired_files(rt: Runtime) -> int:
    """Remove uploaded build files past USERFILES_EXPIRATION_S, their bytes first."""
    expired = await rt.db.read(user_files.expired, now_ms())
    for file_id in expired:
        await rt.store.delete(user_files.storage_path(file_id))
    if expired:
        await rt.db.write(user_files.forget, expired)
    return len(expired)


# --- what a builder needs ------------------------------------------------------------------------


async def identity_of(rt: Runtime, account_id: int | None) -> Identity | None:
    """The identity a build acts as (its requester, or its pull robot), as a login would prove it
    now; None when the account is gone or disabled."""
    if account_id is None:
        return None
    account = await rt.db.read(accounts.get_by_id, account_id)
    if account is None or not account.enabled:
        return None
    kind = "robot" if account.kind == "robot" else "user"
    superuser = permissions.is_configured_superuser(rt.settings, account)
    return Identity(kind, account.id, account.name, superuser, generation=account.credential_gen)


async def registry_token(
    rt: Runtime,
    pusher: Identity,
    target: RepositoryName | None,
    puller: Identity,
    sources: list[RepositoryName],
    build: BuildRecord | None = None,
) -> str:
    """A registry token for one build: push and pull on `target` as the requester may, pull on the
    base images' repositories as the pull robot (or the requester) may. It lives as long as the
    registry's tokens do (a build asks again before pushing)."""
    pushes = await rt.db.read(permissions.access_to_each, rt.settings, pusher, [target] if target else [])
    pulls = await rt.db.read(permissions.access_to_each, rt.settings, puller, sources)
    access = []
    for name, decision in pushes.items():
        granted = sorted(decision.actions & {permissions.PULL, permissions.PUSH})
        access.append({"type": "repository", "name": str(name), "actions": granted})
    for name, decision in pulls.items():
        if permissions.PULL in decision.actions and name not in pushes:
            access.append({"type": "repository", "name": str(name), "actions": [permissions.PULL]})
    return rt.tokens.issue(pusher, access, build=build_claim(build) if build else None)


def build_claim(build: BuildRecord) -> dict[str, Any]:
    """What a build's token says of it, and so what the usage log entries of its pushes and
    pulls carry: the build, and for a trigger's build the trigger and the build token's name
    (such entries name no performer: the trigger acted, not the admin whose rights it uses)."""
    claim: dict[str, Any] = {"build_uuid": build.uuid}
    if build.trigger_uuid is not None:
        claim |= {
            "trigger_id": build.trigger_uuid,
            "trigger_kind": build.trigger_service,
            "token": audit_kinds.BUILD_TOKEN,
        }
    return claim

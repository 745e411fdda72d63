"""Repository builds, as Quay's /api/v1 has them: request (from a dropped file or an archive
URL), list, read, follow the log, cancel; the file drop; the superuser's views of any build.

`wharf builder` processes run the builds (jobs/builder.py); these routes only record and read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from wharf.api.access import (
    ContentAdminRepository,
    ReadableRepository,
    SuperuserReader,
    WritableRepository,
)
from wharf.api.deps import Caller, FreshLogin, Rt, User
from wharf.api.errors import forbidden, invalid_request, unauthorized
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core.builds import BuildRecord
from wharf.core.shapes import date
from wharf.runtime import Runtime
from wharf.services import builds as build_service

router = APIRouter(tags=["build"])


class RepositoryBuildRequest(BaseModel):
    file_id: str | None = Field(None, max_length=64)
    archive_url: str | None = Field(None, max_length=2048)
    subdirectory: str | None = Field(None, max_length=1024)
    dockerfile_path: str | None = Field(None, max_length=1024)
    context: str | None = Field(None, max_length=1024)
    pull_robot: str | None = Field(None, max_length=255)
    docker_tags: list[str] | None = Field(None, min_length=1, max_length=50)


class FileDropRequest(BaseModel):
    mimeType: str = Field(max_length=255)


def _user_view(name: str) -> dict[str, Any]:
    return {"name": name, "kind": "user", "is_robot": "+" in name}


def build_view(build: BuildRecord, can_write: bool, can_read_archive: bool) -> dict[str, Any]:
    """Quay's build_status_view."""
    view: dict[str, Any] = {
        "id": build.uuid,
        "phase": build.shown_phase,
        "started": date(build.started_ms or build.created_ms),
        "display_name": build.display_name,
        "status": {},
        "subdirectory": build.subdirectory,
        "dockerfile_path": build.dockerfile_path,
        "context": build.context,
        "tags": build.docker_tags,
        "manual_user": build.manual_user,
        "is_writer": can_write,
        "trigger": _trigger_view(build, can_write),
        "trigger_metadata": build.trigger_metadata if can_write else None,
        "resource_key": build.resource_key,
        "pull_robot": _user_view(build.pull_robot) if build.pull_robot else None,
        "repository": {"namespace": build.namespace, "name": build.repository},
        "error": build.error,
        "manifest_digest": build.manifest_digest,
    }
    if can_read_archive and build.archive_url:
        view["archive_url"] = build.archive_url
    return view


def _trigger_view(build: BuildRecord, can_read: bool) -> dict[str, Any] | None:
    """The trigger that started the build, as Quay's build view shows it (for_build)."""
    if build.trigger_uuid is None:
        return None
    source = (build.trigger_metadata or {}).get("git_url")
    return {
        "id": build.trigger_uuid,
        "service": build.trigger_service,
        "is_active": True,
        "build_source": source if can_read else None,
        "repository_url": None,
        "config": {},
        "can_invoke": False,
        "enabled": True,
        "disabled_reason": None,
    }


def _writer(role: str) -> bool:
    return permissions.RANK[role] >= permissions.RANK[permissions.WRITE]


@router.get(
    "/repository/{repository:path}/build/",
    operation_id="getRepoBuilds",
    summary="List a repository's builds, newest first",
)
async def get_repo_builds(
    rt: Rt,
    target: ReadableRepository,
    repository: str,
    limit: int = Query(5, ge=0, le=100, description="The maximum number of builds to return"),
    since: int | None = Query(None, description="Only builds since this Unix time"),
) -> dict[str, Any]:
    found = await build_service.list_builds(rt, target.repo, limit, since)
    writer = _writer(target.role)
    return {"builds": [build_view(b, writer, writer) for b in found]}


@router.post(
    "/repository/{repository:path}/build/",
    operation_id="requestRepoBuild",
    status_code=201,
    summary="Build the repository from an uploaded Dockerfile or archive, or an archive URL",
)
async def request_repo_build(
    rt: Rt,
    who: User,
    target: WritableRepository,
    repository: str,
    body: RepositoryBuildRequest,
    response: Response,
) -> dict[str, Any]:
    wanted = build_service.BuildInput(**body.model_dump())
    build = await build_service.request_build(rt, who, target, wanted)
    response.headers["Location"] = (
        f"{rt.settings.public_origin}/api/v1/repository/{target.full_name}/build/{build.uuid}/status"
    )
    return build_view(build, True, True)


async def _logs_allowed(rt: Runtime, who: Identity, role: str) -> None:
    """Build logs show what a build ran: writers read them, readers only with
    FEATURE_READER_BUILD_LOGS, superusers who may read everything always."""
    if _writer(role) or rt.settings.FEATURE_READER_BUILD_LOGS:
        return
    if permissions.is_readonly_superuser(who) or permissions.has_full_access(who):
        return
    if who.is_anonymous:
        raise unauthorized()
    raise forbidden("reading build logs needs write access to the repository")


@router.get(
    "/repository/{repository:path}/build/{build_uuid}/logs",
    operation_id="getRepoBuildLogs",
    summary="A build's log, from entry `start` on",
)
async def get_repo_build_logs(
    rt: Rt,
    who: Caller,
    target: ReadableRepository,
    repository: str,
    build_uuid: str,
    start: int = Query(0, ge=0, description="The first log entry to return"),
) -> dict[str, Any]:
    await _logs_allowed(rt, who, target.role)
    build = await build_service.get(rt, target.repo, build_uuid)
    return await build_service.logs(rt, build, start)


@router.get(
    "/repository/{repository:path}/build/{build_uuid}/status",
    operation_id="getRepoBuildStatus",
    summary="A build's status",
)
async def get_repo_build_status(
    rt: Rt, target: ReadableRepository, repository: str, build_uuid: str
) -> dict[str, Any]:
    build = await build_service.get(rt, target.repo, build_uuid)
    writer = _writer(target.role)
    return build_view(build, writer, writer)


@router.get(
    "/repository/{repository:path}/build/{build_uuid}",
    operation_id="getRepoBuild",
    summary="A build",
)
async def get_repo_build(
    rt: Rt, target: ReadableRepository, repository: str, build_uuid: str
) -> dict[str, Any]:
    build = await build_service.get(rt, target.repo, build_uuid)
    writer = _writer(target.role)
    return build_view(build, writer, writer)


@router.delete(
    "/repository/{repository:path}/build/{build_uuid}",
    operation_id="cancelRepoBuild",
    status_code=201,
    summary="Cancel a build: at once while it waits, by stopping its builder while it runs",
)
async def cancel_repo_build(
    rt: Rt, who: User, target: ContentAdminRepository, repository: str, build_uuid: str
) -> str:
    await build_service.cancel(rt, who, target.repo, build_uuid)
    return "Okay"


@router.post("/filedrop/", operation_id="getFiledropUrl", summary="Reserve an upload for a build file")
async def get_filedrop_url(rt: Rt, who: User, body: FileDropRequest) -> dict[str, str]:
    url, file_id = await build_service.filedrop(rt, who, body.mimeType)
    return {"url": url, "file_id": file_id}


# Not under /api/v1: the URL getFiledropUrl hands out (app.py sends /userfiles/ here).
uploads = APIRouter(tags=["build"], include_in_schema=False)


@uploads.put("/userfiles/{file_id}", status_code=204)
async def put_user_file(rt: Rt, who: User, file_id: str, request: Request) -> Response:
    await build_service.receive_file(rt, who, file_id, request.stream())
    return Response(status_code=204)


# --- superusers: any build by its id -------------------------------------------------------------


@router.get(
    "/superuser/{build_uuid}/logs",
    operation_id="getRepoBuildLogsSuperUser",
    dependencies=[FreshLogin],
    summary="Any build's log (superusers)",
)
async def get_repo_build_logs_superuser(
    rt: Rt, who: SuperuserReader, build_uuid: str, start: int = Query(0, ge=0)
) -> dict[str, Any]:
    build = await build_service.get_any(rt, build_uuid)
    return await build_service.logs(rt, build, start)


@router.get(
    "/superuser/{build_uuid}/status",
    operation_id="getRepoBuildStatusSuperUser",
    dependencies=[FreshLogin],
    summary="Any build's status (superusers)",
)
async def get_repo_build_status_superuser(rt: Rt, who: SuperuserReader, build_uuid: str) -> dict[str, Any]:
    return build_view(await build_service.get_any(rt, build_uuid), True, True)


@router.get(
    "/superuser/{build_uuid}/build",
    operation_id="getRepoBuildSuperUser",
    dependencies=[FreshLogin],
    summary="Any build (superusers)",
)
async def get_repo_build_superuser(rt: Rt, who: SuperuserReader, build_uuid: str) -> dict[str, Any]:
    return build_view(await build_service.get_any(rt, build_uuid), True, True)


@router.get(
    "/superuser/{build_uuid}/logs/archive",
    operation_id="getRepoBuildLogsArchiveSuperUser",
    dependencies=[FreshLogin],
    summary="Any build's whole log in one answer (superusers)",
)
async def get_repo_build_logs_archive_superuser(
    rt: Rt, who: SuperuserReader, build_uuid: str
) -> dict[str, Any]:
    """Quay serves the log archived to object storage once the build finished; Wharf keeps logs in
    the database until BUILD_LOGS_RETENTION, so this is the whole log, in the archive's shape."""
    build = await build_service.get_any(rt, build_uuid)
    answer = await build_service.logs(rt, build, 0)
    if not answer["total"]:
        raise invalid_request("Archived logs not available")
    return answer

"""/repository/<ns>/<name>?tab=builds and /repository/<ns>/<name>/build/<uuid>: a repository's
builds, and one build with its log, which the page follows (wharf.js polls getRepoBuildLogs with
`start`, so each poll brings only the new lines).

"Start build" on the tab posts a Dockerfile or an archive as a plain multipart form (no script
needed): the file is stored as a user file and the build requested from it, through the same
services as getFiledropUrl and requestRepoBuild, so the same checks apply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import builds as build_records
from wharf.core.errors import NotAllowed, NotFound
from wharf.services import builds as build_service
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.session import Visitor, read_upload_form, visitor

HISTORY = 50
"""Builds the tab lists, newest first."""


def _reads_logs(request: Request, view: RepositoryView) -> bool:
    # the write role, frozen or not (a restricted user reads the logs of their own builds)
    writer = permissions.RANK[view.role] >= permissions.RANK[permissions.WRITE]
    return writer or access.runtime(request).settings.FEATURE_READER_BUILD_LOGS


async def builds_tab(request: Request, v: Visitor, view: RepositoryView) -> Response:
    rt = access.runtime(request)
    found = await build_service.list_builds(rt, view.repo, HISTORY, None)
    return render.page(
        request,
        "repository/builds.html",
        page=access.repository_page(request, view),
        tab="builds",
        builds=found,
        terminal=build_records.TERMINAL,
        builds_enabled=rt.settings.FEATURE_BUILD_SUPPORT,
        max_file=rt.settings.USERFILES_MAX_SIZE,
    )


async def show_build(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name = request.path_params["repository"].rstrip("/")
    view = await access.repository(request, v, full_name, permissions.READ)
    try:
        build = await build_service.get(rt, view.repo, request.path_params["build_uuid"])
    except NotFound:
        raise WebError(404, "No such build", "This repository has no build with that id.") from None
    reads_logs = _reads_logs(request, view)
    total, entries = (await build_service.read_log(rt, build)) if reads_logs else (0, [])
    return render.page(
        request,
        "repository/build.html",
        page=access.repository_page(request, view),
        tab="builds",
        build=build,
        finished=build.terminal,
        reads_logs=reads_logs,
        log=entries,
        log_total=total,
    )


_CHUNK = 256 * 1024
_FORM_SLACK = 64 * 1024
"""What a multipart body may carry over the file itself (the other fields, the boundaries)."""


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


def _tags(text: str) -> list[str] | None:
    """Tags typed as a list: separated by commas or spaces; none means the default (latest)."""
    found = [t for t in text.replace(",", " ").split() if t]
    return found or None


def _optional(text: str) -> str | None:
    return text.strip() or None


async def start_build(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    if not v.signed_in:
        raise WebError.sign_in(request)
    if not rt.settings.FEATURE_BUILD_SUPPORT:  # the tab shows no form then: say it on a page
        raise WebError(403, "Builds are off", "This registry does not build images (FEATURE_BUILD_SUPPORT).")
    full_name = request.path_params["repository"].rstrip("/")
    fields, files = await read_upload_form(rt, request, rt.settings.USERFILES_MAX_SIZE + _FORM_SLACK)
    view = await access.repository(request, v, full_name, permissions.WRITE, changing="builds")
    here = f"/repository/{view.repo.full_name}?tab=builds"
    upload = files.get("file")
    if upload is None or not upload.filename:
        raise FormError(here, file="Choose a Dockerfile or an archive (.tar, .tar.gz, .zip) to build.")
    body = build_service.BuildInput(
        docker_tags=_tags(fields.get("docker_tags", "")),
        dockerfile_path=_optional(fields.get("dockerfile_path", "")),
        context=_optional(fields.get("context", "")),
        pull_robot=_optional(fields.get("pull_robot", "")),
    )
    try:
        with forms.refusing(here, {"file_id": "file"}):
            # Checked before the file is stored: a typo costs no upload.
            build_service.dockerfile_and_context(body)
            build_service.tags_of(body.docker_tags)
            mime = upload.content_type or "application/octet-stream"
            _, file_id = await build_service.filedrop(rt, v.identity, mime)
            await build_service.receive_file(rt, v.identity, file_id, _chunks(upload))
            build = await build_service.request_build(
                rt, v.identity, view.repo, replace(body, file_id=file_id)
            )
    except NotAllowed as e:
        raise FormError(here, {e.field or forms.SUMMARY: forms.sentence(str(e))}, status=403) from None
    finally:
        await upload.close()
    target = f"/repository/{view.repo.full_name}/build/{build.uuid}"
    return render.redirect(target, f"Build {build.display_name} of {view.repo.full_name} is queued.")


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/build/", start_build, methods=["POST"]),
    Route("/repository/{repository:path}/build/{build_uuid}", show_build, methods=["GET"]),
]

"""/repository/<ns>/<name>?tab=builds and /repository/<ns>/<name>/build/<uuid>: a repository's
builds, and one build with its log, which the page follows (wharf.js polls getRepoBuildLogs with
`start`, so each poll brings only the new lines)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import builds as build_records
from wharf.core.errors import NotFound
from wharf.services import builds as build_service
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.session import Visitor, visitor

HISTORY = 50
"""Builds the tab lists, newest first."""


def _reads_logs(request: Request, view: RepositoryView) -> bool:
    page = access.repository_page(request, view)
    return page.can_write or access.runtime(request).settings.FEATURE_READER_BUILD_LOGS


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


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/build/{build_uuid}", show_build, methods=["GET"]),
]

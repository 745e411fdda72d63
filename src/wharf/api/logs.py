"""Usage logs: /api/v1/{repository/{R},user,organization/{org},superuser}/logs and aggregatelogs,
and exportlogs with the state of an export (GET /api/v1/exportlogs/{id}, a Wharf extension)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from wharf.api import views
from wharf.api.access import SuperuserReader, admined_org, admined_repository, require_user_admin
from wharf.api.deps import FreshLogin, Rt, User
from wharf.api.errors import invalid_request, not_found
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, audit_kinds, log_exports, logs, shapes
from wharf.core.log_exports import LogExportRecord
from wharf.runtime import Runtime
from wharf.services import log_exports as export_service

router = APIRouter(tags=["logs"])

DEFAULT_WINDOW_MS = logs.DAY_MS
KINDS = audit_kinds.listing()
"""The description of the endpoints that list entries: every kind they may hold."""


def _day_ms(value: str, name: str) -> int:
    try:
        day = datetime.strptime(value, "%m/%d/%Y").replace(tzinfo=UTC)
    except ValueError:
        raise invalid_request(f"{name} must be a date like 11/28/2026 (MM/DD/YYYY, UTC)") from None
    return int(day.timestamp() * 1000)


def _range(starttime: str | None, endtime: str | None) -> tuple[int, int]:
    """[start, end) in ms: endtime's whole day is included; by default the last 24 hours."""
    end = _day_ms(endtime, "endtime") + logs.DAY_MS if endtime else int(time.time() * 1000) + 1
    start = _day_ms(starttime, "starttime") if starttime else end - DEFAULT_WINDOW_MS
    if start >= end:
        raise invalid_request("starttime must be before endtime")
    return start, end


async def _performer(rt: Runtime, name: str | None) -> int | None:
    if not name:
        return None
    account = await rt.db.read(accounts.get_by_name, name)
    return account.id if account is not None else -1  # an unknown performer matches nothing


async def _list(
    rt: Runtime,
    scope: logs.Scope,
    starttime: str | None,
    endtime: str | None,
    next_page: str | None,
) -> dict[str, Any]:
    before: tuple[int, int] | None = None
    if next_page:
        opened = rt.secrets.open(next_page)
        if opened is None:
            raise invalid_request("next_page is not a token this server handed out")
        state = json.loads(opened)
        start, end, before = state["s"], state["e"], (state["t"], state["i"])
    else:
        start, end = _range(starttime, endtime)
    found = await rt.db.read(logs.page, scope, start, end, before=before, limit=logs.MAX_PAGE + 1)
    out: dict[str, Any] = {
        "start_time": views.date(start),
        "end_time": views.date(end),
        "logs": [shapes.log_entry(e) for e in found[: logs.MAX_PAGE]],
    }
    if len(found) > logs.MAX_PAGE:
        last = found[logs.MAX_PAGE - 1]
        out["next_page"] = rt.secrets.seal(
            json.dumps({"s": start, "e": end, "t": last.created_ms, "i": last.id})
        )
    return out


async def _aggregate(
    rt: Runtime, scope: logs.Scope, starttime: str | None, endtime: str | None
) -> dict[str, Any]:
    start, end = _range(starttime, endtime)
    rows = await rt.db.read(logs.aggregate, scope, start, end)
    return {"aggregated": [{"kind": k, "count": n, "datetime": views.date(day)} for k, n, day in rows]}


async def _repo_scope(rt: Runtime, who: Identity, repository: str) -> logs.Scope:
    repo = (await admined_repository(rt, who, repository)).repo
    return logs.Scope(repository_id=repo.id)


async def _user_scope(rt: Runtime, who: Identity, performer: str | None) -> logs.Scope:
    require_user_admin(who)
    return logs.Scope(involving_id=who.account_id, performer_id=await _performer(rt, performer))


async def _org_scope(rt: Runtime, who: Identity, orgname: str, performer: str | None) -> logs.Scope:
    org = await admined_org(rt, who, orgname)
    return logs.Scope(namespace_id=org.id, performer_id=await _performer(rt, performer))


@router.get(
    "/repository/{repository:path}/logs",
    operation_id="listRepoLogs",
    summary="A repository's usage logs",
    description=KINDS,
)
async def list_repo_logs(
    rt: Rt,
    who: User,
    repository: str,
    starttime: str | None = None,
    endtime: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    return await _list(rt, await _repo_scope(rt, who, repository), starttime, endtime, next_page)


@router.get(
    "/repository/{repository:path}/aggregatelogs",
    operation_id="getAggregateRepoLogs",
    summary="Counts of a repository's log entries per kind and day",
)
async def get_aggregate_repo_logs(
    rt: Rt, who: User, repository: str, starttime: str | None = None, endtime: str | None = None
) -> dict[str, Any]:
    return await _aggregate(rt, await _repo_scope(rt, who, repository), starttime, endtime)


@router.get(
    "/user/logs",
    operation_id="listUserLogs",
    summary="Your namespace's and your own usage logs",
    description=KINDS,
)
async def list_user_logs(
    rt: Rt,
    who: User,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    return await _list(rt, await _user_scope(rt, who, performer), starttime, endtime, next_page)


@router.get("/user/aggregatelogs", operation_id="getAggregateUserLogs", summary="Counts of your log entries")
async def get_aggregate_user_logs(
    rt: Rt, who: User, starttime: str | None = None, endtime: str | None = None, performer: str | None = None
) -> dict[str, Any]:
    return await _aggregate(rt, await _user_scope(rt, who, performer), starttime, endtime)


@router.get(
    "/organization/{orgname}/logs",
    operation_id="listOrgLogs",
    summary="An organization's usage logs",
    description=KINDS,
)
async def list_org_logs(
    rt: Rt,
    who: User,
    orgname: str,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    return await _list(rt, await _org_scope(rt, who, orgname, performer), starttime, endtime, next_page)


@router.get(
    "/organization/{orgname}/aggregatelogs",
    operation_id="getAggregateOrgLogs",
    summary="Counts of an organization's log entries per kind and day",
)
async def get_aggregate_org_logs(
    rt: Rt,
    who: User,
    orgname: str,
    starttime: str | None = None,
    endtime: str | None = None,
    performer: str | None = None,
) -> dict[str, Any]:
    return await _aggregate(rt, await _org_scope(rt, who, orgname, performer), starttime, endtime)


@router.get(
    "/superuser/logs",
    operation_id="listAllLogs",
    dependencies=[FreshLogin],
    summary="Every usage log entry of the registry",
    description=KINDS,
)
async def list_all_logs(
    rt: Rt,
    who: SuperuserReader,
    starttime: str | None = None,
    endtime: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    return await _list(rt, logs.Scope(), starttime, endtime, next_page)


@router.get(
    "/superuser/aggregatelogs",
    operation_id="listAllAggregateLogs",
    dependencies=[FreshLogin],
    summary="Counts of all log entries per kind and day",
)
async def list_all_aggregate_logs(
    rt: Rt, who: SuperuserReader, starttime: str | None = None, endtime: str | None = None
) -> dict[str, Any]:
    return await _aggregate(rt, logs.Scope(), starttime, endtime)


class ExportLogs(BaseModel):
    """Where to send the link to the exported file: a URL that gets a POST, an e-mail address, or both."""

    callback_url: str | None = None
    callback_email: str | None = None


def _require_export(rt: Runtime) -> None:
    if not rt.settings.FEATURE_LOG_EXPORT:
        raise not_found("log export is turned off on this registry (FEATURE_LOG_EXPORT)")


async def _export(
    rt: Runtime,
    request: Request,
    who: Identity,
    scope: logs.Scope,
    names: tuple[str, str | None],
    body: ExportLogs,
    starttime: str | None,
    endtime: str | None,
) -> dict[str, Any]:
    """As Quay: the URL's form, scheme and any internal address literal are checked now; the
    address its name resolves to, when the link is delivered (each attempt checks again). An
    e-mail is accepted whether or not a mail server is set: the export then says why it failed."""
    start, end = _range(starttime, endtime)
    assert who.account_id is not None
    try:
        export = await export_service.start(
            rt,
            who.account_id,
            scope,
            names,
            start,
            end,
            body.callback_url,
            body.callback_email,
            resolve_url=False,
        )
    except export_service.CallbackRefused as e:
        raise invalid_request(f"Invalid callback URL: {e}") from None
    return {"export_id": export.uuid}


@router.post(
    "/repository/{repository:path}/exportlogs",
    operation_id="exportRepoLogs",
    summary="Export a repository's usage logs to a file; its link goes to a callback URL or e-mail",
)
async def export_repo_logs(
    rt: Rt,
    request: Request,
    who: User,
    repository: str,
    body: ExportLogs,
    starttime: str | None = None,
    endtime: str | None = None,
) -> dict[str, Any]:
    _require_export(rt)
    repo = (await admined_repository(rt, who, repository)).repo
    scope = logs.Scope(repository_id=repo.id)
    return await _export(rt, request, who, scope, (repo.namespace, repo.name), body, starttime, endtime)


@router.post(
    "/user/exportlogs",
    operation_id="exportUserLogs",
    summary="Export your namespace's and your own usage logs",
)
async def export_user_logs(
    rt: Rt,
    request: Request,
    who: User,
    body: ExportLogs,
    starttime: str | None = None,
    endtime: str | None = None,
) -> dict[str, Any]:
    _require_export(rt)
    scope = await _user_scope(rt, who, None)
    assert who.name is not None
    return await _export(rt, request, who, scope, (who.name, None), body, starttime, endtime)


@router.post(
    "/organization/{orgname}/exportlogs",
    operation_id="exportOrgLogs",
    summary="Export an organization's usage logs",
)
async def export_org_logs(
    rt: Rt,
    request: Request,
    who: User,
    orgname: str,
    body: ExportLogs,
    starttime: str | None = None,
    endtime: str | None = None,
) -> dict[str, Any]:
    _require_export(rt)
    org = await admined_org(rt, who, orgname)
    scope = logs.Scope(namespace_id=org.id)
    return await _export(rt, request, who, scope, (org.name, None), body, starttime, endtime)


def export_view(export: LogExportRecord) -> dict[str, Any]:
    return {
        "export_id": export.uuid,
        "state": export.state,
        "entries_written": export.entries_written,
        "namespace": export.namespace_name,
        "repository": export.repository_name,
        "start_time": views.date(export.start_ms),
        "end_time": views.date(export.end_ms),
        "callback_url": export.callback_url,
        "callback_email": export.callback_email,
        "attempts": export.attempts,
        "error": export.error,
        "created": views.date(export.created_ms),
        "updated": views.date(export.updated_ms),
        "finished": views.date(export.finished_ms),
    }


# Not in Quay, whose exports cannot be watched: left out of the schema, whose operations all are Quay's.
@router.get("/exportlogs/{export_id}", operation_id="getExportLogsState", include_in_schema=False)
async def get_export_state(rt: Rt, who: User, export_id: str) -> dict[str, Any]:
    export = await rt.db.read(log_exports.get, export_id)
    if export is None or not (
        export.requester_id == who.account_id or permissions.may_read_superuser_panel(who)
    ):
        raise not_found(f"no log export {export_id!r} of yours")
    return export_view(export)

"""Usage logs: /api/v1/{repository/{R},user,organization/{org},superuser}/logs and aggregatelogs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from wharf.api import views
from wharf.api.deps import Rt, User
from wharf.api.errors import forbidden, invalid_request
from wharf.api.organizations import admined_org
from wharf.api.permissions import repository_with_role
from wharf.api.superuser import require_superuser
from wharf.auth import permissions, scopes
from wharf.auth.identity import Identity
from wharf.core import accounts, logs
from wharf.core.accounts import AccountRecord
from wharf.runtime import Runtime

router = APIRouter(tags=["logs"])

DEFAULT_WINDOW_MS = logs.DAY_MS


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


def _account_view(account: AccountRecord) -> dict[str, Any]:
    kind = {"robot": "user", "org": "org"}.get(account.kind, "user")
    return {
        "kind": kind,
        "name": account.name,
        "is_robot": account.kind == "robot",
        "avatar": views.avatar(account.name, account.email, kind),
    }


def _entry_view(entry: logs.Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": entry.kind,
        "metadata": entry.metadata,
        "ip": entry.ip,
        "datetime": views.date(entry.created_ms),
    }
    if entry.performer is not None:
        out["performer"] = _account_view(entry.performer)
    if entry.namespace is not None:
        out["namespace"] = _account_view(entry.namespace)
    return out


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
        "logs": [_entry_view(e) for e in found[: logs.MAX_PAGE]],
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
    repo, _ = await repository_with_role(rt, who, repository, permissions.ADMIN)
    return logs.Scope(repository_id=repo.id)


async def _user_scope(rt: Runtime, who: Identity, performer: str | None) -> logs.Scope:
    if not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")
    return logs.Scope(involving_id=who.account_id, performer_id=await _performer(rt, performer))


async def _org_scope(rt: Runtime, who: Identity, orgname: str, performer: str | None) -> logs.Scope:
    org = await admined_org(rt, who, orgname)
    return logs.Scope(namespace_id=org.id, performer_id=await _performer(rt, performer))


@router.get(
    "/repository/{repository:path}/logs", operation_id="listRepoLogs", summary="A repository's usage logs"
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


@router.get("/user/logs", operation_id="listUserLogs", summary="Your namespace's and your own usage logs")
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
    "/organization/{orgname}/logs", operation_id="listOrgLogs", summary="An organization's usage logs"
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


@router.get("/superuser/logs", operation_id="listAllLogs", summary="Every usage log entry of the registry")
async def list_all_logs(
    rt: Rt,
    who: User,
    starttime: str | None = None,
    endtime: str | None = None,
    next_page: str | None = None,
) -> dict[str, Any]:
    require_superuser(who)
    return await _list(rt, logs.Scope(), starttime, endtime, next_page)


@router.get(
    "/superuser/aggregatelogs",
    operation_id="listAllAggregateLogs",
    summary="Counts of all log entries per kind and day",
)
async def list_all_aggregate_logs(
    rt: Rt, who: User, starttime: str | None = None, endtime: str | None = None
) -> dict[str, Any]:
    require_superuser(who)
    return await _aggregate(rt, logs.Scope(), starttime, endtime)

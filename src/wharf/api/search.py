"""/api/v1/find/repositories: find the repositories you may see by name or namespace; and
/api/v1/find/all: those, plus users, organizations, and your teams and robots (Quay's conductSearch)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from wharf.api import views
from wharf.api.deps import Caller, Rt
from wharf.api.errors import forbidden
from wharf.api.repositories import POPULARITY_WINDOW_MS
from wharf.auth import permissions
from wharf.core import find, scopes
from wharf.core.clock import now_ms
from wharf.core.repositories import RepositorySummary
from wharf.services import repositories as repository_service
from wharf.services.repositories import Usage

router = APIRouter(prefix="/find", tags=["search"])

PAGE_SIZE = 10
"""Quay's SEARCH_RESULTS_PER_PAGE default."""
MAX_PAGES = 10
"""Quay's SEARCH_MAX_RESULT_PAGE_COUNT default: later pages answer the last one."""
# Quay's relative scores of search results.
_ENTITY_SCORE = 1
_REPOSITORY_SCORE = 4


def _namespace_view(r: RepositorySummary) -> dict[str, Any]:
    return _account_view(r.namespace, r.namespace_email, r.namespace_kind == "org")


def _account_view(name: str, email: str | None, org: bool) -> dict[str, Any]:
    """A user or an organization as a search result."""
    return {
        "title": "org" if org else "user",
        "kind": "organization" if org else "user",
        "avatar": views.avatar(name, email, "org" if org else "user"),
        "name": name,
        "score": _ENTITY_SCORE,
        "href": f"/{'organization' if org else 'user'}/{name}",
    }


def _result_view(r: RepositorySummary, usage: Usage | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "repository",
        "title": "repo",
        "namespace": _namespace_view(r),
        "name": r.name,
        "description": r.description,
        "is_public": r.is_public,
        "score": _REPOSITORY_SCORE,
        "href": f"/repository/{r.full_name}",
    }
    if usage is not None:
        modified, starred, actions = usage
        out["last_modified"] = modified[r.id] // 1000 if r.id in modified else None
        out["stars"] = starred.get(r.id, 0)
        out["popularity"] = float(actions.get(r.id, 0))
    return out


@router.get(
    "/repositories",
    operation_id="conductRepoSearch",
    summary="Find repositories whose name or namespace contains the query",
)
async def conduct_repo_search(
    rt: Rt,
    who: Caller,
    query: str = Query("", max_length=255),
    page: int = 1,
    include_usage: bool = Query(False, alias="includeUsage"),
) -> dict[str, Any]:
    page = min(max(1, page), MAX_PAGES)
    offset = (page - 1) * PAGE_SIZE
    visible = permissions.visible_repositories(who, rt.settings)
    include_public = permissions.may_read_public(who, rt.settings)

    found, usage = await repository_service.search_page(
        rt,
        visible=visible,
        include_public=include_public,
        query=query.strip(),
        offset=offset,
        page_size=PAGE_SIZE,
        popularity_since_ms=now_ms() - POPULARITY_WINDOW_MS if include_usage else None,
    )
    return {
        "results": [_result_view(r, usage) for r in found[:PAGE_SIZE]],
        "has_additional": len(found) > PAGE_SIZE,
        "page": page,
        "page_size": PAGE_SIZE,
        "start_index": offset,
    }


_TEAM_SCORE = 2
_FIND_ALL_LIMIT = 5
"""Quay finds at most five of each kind."""


def _closeness(name: str, query: str) -> float:
    """How well `name` matches `query`, in (0, 1], in the spirit of Quay's liquidmetal score: an
    exact name first, then names that start with the query, then shorter names."""
    name, query = name.lower(), query.lower()
    if name == query:
        return 1.0
    if query not in name:
        return 0.5  # found through its namespace: Quay's score when liquidmetal finds nothing
    coverage = len(query) / max(len(name), 1)
    return (0.6 if name.startswith(query) else 0.3) + 0.3 * coverage


def _entity_view(me: str | None, found: find.Found) -> dict[str, Any]:
    if found.kind == "robot":
        owner, _, short = found.name.partition("+")
        href = (
            f"/user/{owner}?tab=robots&showRobot={found.name}"
            if owner == me
            else f"/organization/{owner}?tab=robots&showRobot={found.name}"
        )
        return {
            "title": "robot",
            "kind": "robot",
            "avatar": None,
            "name": found.name,
            "score": _ENTITY_SCORE,
            "href": href,
            "short_name": short,
        }
    return _account_view(found.name, found.email, found.kind == "org")


@router.get(
    "/all",
    operation_id="conductSearch",
    summary="Find repositories, users, organizations, and your teams and robots by name",
)
async def conduct_search(rt: Rt, who: Caller, query: str = Query("", max_length=255)) -> dict[str, Any]:
    if not who.has_scope(scopes.REPO_READ):
        raise forbidden("the token lacks the repo:read scope")
    query = query.strip()
    if not query:
        return {"results": []}
    visible = permissions.visible_repositories(who, rt.settings)
    include_public = permissions.may_read_public(who, rt.settings)
    me = who.account_id if not who.is_anonymous else None

    found = await repository_service.find_all(
        rt, me, visible=visible, include_public=include_public, query=query, limit=_FIND_ALL_LIMIT
    )
    results: list[dict[str, Any]] = []
    for team in found.teams:
        assert team.org is not None
        results.append(
            {
                "kind": "team",
                "name": team.name,
                "organization": _entity_view(who.name, find.Found(team.org, "org", team.org_email)),
                "avatar": views.avatar(team.name, None, "team"),
                "score": _TEAM_SCORE,
                "href": f"/organization/{team.org}/teams/{team.name}",
            }
        )
    results += [_entity_view(who.name, r) for r in found.robots]
    results += [_result_view(r, None) for r in found.repositories]
    results += [_entity_view(who.name, n) for n in found.namespaces]
    for result in results:
        result["score"] = result["score"] * _closeness(result.get("short_name", result["name"]), query)
    return {"results": sorted(results, key=lambda r: r["score"], reverse=True)}

"""/api/v1/repository: create, list, read, describe, change visibility and state, delete.

This router is registered last: its `/repository/{repository:path}` routes would otherwise swallow
`/repository/{R}/permissions/...`, `/repository/{R}/tag/...` and the like.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.access import AdminRepository, ReadableRepository, admined_repository, resolve_repository
from wharf.api.deps import Caller, Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.auth import permissions
from wharf.core import accounts, repositories, scopes
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists
from wharf.core.repositories import DAY_MS, STATE_NAMES, RepositorySummary
from wharf.oci.names import is_valid_repository_name
from wharf.runtime import Runtime
from wharf.services import quotas as quota_service
from wharf.services import repositories as repository_service

router = APIRouter(prefix="/repository", tags=["repository"])

PAGE_SIZE = 100
MAX_TAGS = 500
"""getRepo lists at most this many tags, as Quay does."""
POPULARITY_WINDOW_MS = 7 * DAY_MS
"""`popularity` counts the repository's audit-log entries of the last week, as Quay counts actions."""
STATS_DAYS = 91
DESCRIPTION_MAX = 256 * 1024
_PAGE_PREFIX = "repository-page:"


class NewRepo(BaseModel):
    repository: str = Field(min_length=1, max_length=255)
    visibility: Literal["public", "private"]
    namespace: str | None = Field(default=None, min_length=1, max_length=255)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    repo_kind: Literal["image"] | None = None


class RepoUpdate(BaseModel):
    description: str = Field(max_length=DESCRIPTION_MAX)


class ChangeVisibility(BaseModel):
    visibility: Literal["public", "private"]


class ChangeRepoState(BaseModel):
    state: Literal["NORMAL", "READ_ONLY", "MIRROR"]


def page_token(rt: Runtime, last_full_name: str) -> str:
    """An opaque `next_page` token: the last full name of the page, encrypted."""
    return rt.secrets.seal(_PAGE_PREFIX + last_full_name)


def page_after(rt: Runtime, token: str | None) -> str | None:
    if not token:
        return None
    opened = rt.secrets.open(token)
    if opened is None or not opened.startswith(_PAGE_PREFIX):
        raise invalid_request("next_page is not a page token from this registry")
    return opened.removeprefix(_PAGE_PREFIX)


def summary_view(
    r: RepositorySummary,
    *,
    starred: set[int],
    modified: dict[int, int] | None = None,
    actions: dict[int, int] | None = None,
    sizes: dict[int, int] | None = None,
    configured: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespace": r.namespace,
        "name": r.name,
        "description": r.description,
        "is_public": r.is_public,
        "kind": "image",
        "state": STATE_NAMES.get(r.state),
        "is_starred": r.id in starred,
        "quota": None,
    }
    if modified is not None:
        out["last_modified"] = modified[r.id] // 1000 if r.id in modified else None
    if actions is not None:
        out["popularity"] = float(actions.get(r.id, 0))
    if sizes is not None:
        # Quay's shape; the size is the stored one (core/quotas.py), the quota the namespace's.
        out["quota_report"] = {
            "quota_bytes": sizes.get(r.id, 0),
            "configured_quota": (configured or {}).get(r.namespace),
        }
    return out


def _tag_view(tag: repositories.TagSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": tag.name,
        "manifest_digest": tag.manifest_digest,
        "size": tag.size,
        "last_modified": views.date(tag.start_ms),
    }
    if tag.expires_ms is not None:
        out["expiration"] = views.date(tag.expires_ms)
    return out


def _stats(daily: dict[int, int]) -> list[dict[str, Any]]:
    today = now_ms() // DAY_MS
    return [
        {
            "date": datetime.fromtimestamp(day * DAY_MS / 1000, UTC).date().isoformat(),
            "count": daily.get(day, 0),
        }
        for day in range(today - STATS_DAYS + 1, today + 1)
    ]


@router.post(
    "",
    operation_id="createRepo",
    summary="Create a repository",
    status_code=201,
)
async def create_repo(rt: Rt, who: User, body: NewRepo) -> dict[str, Any]:
    namespace = body.namespace or who.name
    assert namespace is not None
    ns = await rt.db.read(accounts.get_by_name, namespace)
    if ns is None or ns.kind == "robot":
        raise not_found(f"no namespace {namespace!r}")
    if not await rt.db.read(permissions.can_create_in, rt.settings, who, ns):
        raise forbidden(f"you may not create repositories in {namespace}")
    if not is_valid_repository_name(f"{namespace}/{body.repository}"):
        raise invalid_request(
            "Invalid repository name: lowercase letters, digits and separators (. _ __ -), "
            "components separated by /"
        )

    try:
        await repository_service.create(
            rt,
            namespace,
            body.repository,
            visibility=body.visibility,
            description=body.description,
            creator_id=who.account_id,
            by=actor(who),
        )
    except AlreadyExists:
        raise invalid_request("Repository already exists") from None
    return {"namespace": namespace, "name": body.repository, "kind": "image"}


@router.get(
    "",
    operation_id="listRepos",
    summary="List the repositories you may see in a namespace, starred, or public",
)
async def list_repos(
    rt: Rt,
    who: Caller,
    namespace: str | None = Query(None, max_length=255),
    public: bool = False,
    starred: bool = False,
    last_modified: bool = False,
    popularity: bool = False,
    repo_kind: Literal["image"] = "image",
    next_page: str | None = Query(None, max_length=2048),
) -> dict[str, Any]:
    if not (namespace or public or starred):
        raise invalid_request("namespace, starred or public are required for this API call")
    if starred and who.is_anonymous:
        raise invalid_request("starred needs a signed-in caller")
    if not who.is_anonymous and not who.has_scope(scopes.REPO_READ):
        raise forbidden("the token lacks the repo:read scope")
    after = page_after(rt, next_page)
    visible = permissions.visible_repositories(who, rt.settings)
    # Public repositories count when asked for, and starred ones are listed while still readable.
    include_public = permissions.may_read_public(who, rt.settings) and (public or starred)

    found = await repository_service.listing_page(
        rt,
        who.account_id,
        visible=visible,
        include_public=include_public,
        namespace=namespace or None,
        starred_by=who.account_id if starred else None,
        after=after,
        page_size=PAGE_SIZE,
        modified=last_modified,
        popularity_since_ms=now_ms() - POPULARITY_WINDOW_MS if popularity else None,
    )
    items = [
        summary_view(
            r,
            starred=found.starred,
            modified=found.modified,
            actions=found.actions,
            sizes=found.sizes,
            configured=found.configured,
        )
        for r in found.repos
    ]
    last = found.repos[-1].full_name if found.more else None
    out: dict[str, Any] = {"repositories": items}
    if last is not None:
        out["next_page"] = page_token(rt, last)
    return out


@router.post(
    "/{repository:path}/changevisibility",
    operation_id="changeRepoVisibility",
    summary="Make a repository public or private",
)
async def change_repo_visibility(
    rt: Rt, target: AdminRepository, who: User, repository: str, body: ChangeVisibility
) -> dict[str, Any]:
    repo = target.repo
    await rt.db.write(repositories.set_visibility, repo, body.visibility, actor(who))
    return {"success": True}


@router.put(
    "/{repository:path}/changestate",
    operation_id="changeRepoState",
    summary="Set a repository NORMAL, READ_ONLY or MIRROR",
)
async def change_repo_state(
    rt: Rt, target: AdminRepository, who: User, repository: str, body: ChangeRepoState
) -> dict[str, Any]:
    repo = target.repo
    await rt.db.write(repositories.set_state, repo, repositories.STATES[body.state], actor(who))
    return {"success": True}


@router.get(
    "/{repository:path}",
    operation_id="getRepo",
    summary="Get a repository with its tags",
)
async def get_repo(
    rt: Rt,
    access: ReadableRepository,
    who: Caller,
    repository: str,
    include_tags: bool = Query(True, alias="includeTags"),
    include_stats: bool = Query(False, alias="includeStats"),
) -> dict[str, Any]:
    repo, ns, role = access.repo, access.namespace, access.role
    since = (now_ms() // DAY_MS - STATS_DAYS + 1) * DAY_MS

    found = await repository_service.detail(
        rt,
        repo,
        who.account_id,
        max_tags=MAX_TAGS if include_tags else None,
        stats_since_ms=since if include_stats else None,
    )
    description, is_starred, tags, daily = found.description, found.starred, found.tags, found.daily
    # A restricted user's own repository says can_write false, though Quay says true and then
    # refuses each change: a client should not offer pushes, tags or labels it cannot do.
    writable = (
        repo.state == repositories.NORMAL and rt.settings.REGISTRY_STATE != "readonly" and not access.frozen
    )
    out: dict[str, Any] = {
        "namespace": repo.namespace,
        "name": repo.name,
        "kind": "image",
        "description": description,
        "is_public": repo.is_public,
        "is_organization": ns.kind == "org",
        "is_starred": is_starred,
        "status_token": "",
        "trust_enabled": False,
        "tag_expiration_s": views.tag_expiration_s(rt, ns),
        "is_free_account": views.FREE_ACCOUNT,
        "state": STATE_NAMES.get(repo.state),
        "can_write": writable and role in (permissions.WRITE, permissions.ADMIN),
        "can_admin": role == permissions.ADMIN,
    }
    if tags is not None:
        out["tags"] = {t.name: _tag_view(t) for t in tags}
    if daily is not None:
        out["stats"] = _stats(daily)
    if rt.settings.FEATURE_QUOTA_MANAGEMENT:
        report = await quota_service.repository_report(rt, repo.id, repo.namespace_id)
        out["quota_report"] = {"quota_bytes": report.quota_bytes, "configured_quota": report.configured_quota}
    return out


@router.put(
    "/{repository:path}",
    operation_id="updateRepo",
    summary="Change a repository's description",
)
async def update_repo(rt: Rt, who: User, repository: str, body: RepoUpdate) -> dict[str, Any]:
    # The description is not the repository's content: a restricted user may change it in their
    # own namespace, as on Quay (so not `WritableRepository`, which refuses them).
    target = await resolve_repository(rt, who, repository, permissions.WRITE)
    repositories.check_writable(target.repo)
    await rt.db.write(repositories.set_description, target.repo, body.description, actor(who))
    return {"success": True}


@router.delete(
    "/{repository:path}",
    operation_id="deleteRepository",
    summary="Delete a repository with its tags and manifests",
    status_code=204,
)
async def delete_repository(rt: Rt, who: User, repository: str) -> Response:
    """Deleting a repository that is not there is done (204), as on Quay, for a caller who would
    administer it (the namespace's owner or admins, a superuser); anyone else gets the usual 404."""
    if await repository_service.absent_and_admined(rt, who, repository):
        return Response(status_code=204)
    repo = (await admined_repository(rt, who, repository)).repo
    await repository_service.delete(rt, repo, actor(who))
    return Response(status_code=204)

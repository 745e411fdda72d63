"""/api/v1/user/starred: the repositories the signed-in user starred."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from wharf.api.deps import Rt, User
from wharf.api.errors import forbidden, not_found
from wharf.api.repositories import (
    PAGE_SIZE,
    page_after,
    page_token,
    readable_repository,
)
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import repositories, scopes, stars
from wharf.db.engine import Db
from wharf.oci.names import InvalidNameError, RepositoryName

router = APIRouter(prefix="/user/starred", tags=["user"])


class NewStarredRepository(BaseModel):
    namespace: str = Field(min_length=1, max_length=255)
    repository: str = Field(min_length=1, max_length=255)


def _me(who: Identity) -> int:
    """Stars belong to users, managed with the user:admin scope (as on Quay)."""
    if not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")
    if who.kind == "robot" or who.account_id is None:
        raise forbidden("only users star repositories")
    return who.account_id


@router.get("", operation_id="listStarredRepos", summary="List the repositories you starred")
async def list_starred_repos(
    rt: Rt, who: User, next_page: str | None = Query(None, max_length=2048)
) -> dict[str, Any]:
    me = _me(who)
    after = page_after(rt, next_page)
    visible = permissions.visible_repositories(who, rt.settings)

    def read(db: Db) -> list[repositories.RepositorySummary]:
        # Only those still readable: losing access to a private repository hides its star.
        return repositories.listing(
            db,
            visible=visible,
            include_public=permissions.may_read_public(who, rt.settings),
            starred_by=me,
            after=after,
            limit=PAGE_SIZE + 1,
        )

    found = await rt.db.read(read)
    page = found[:PAGE_SIZE]
    out: dict[str, Any] = {
        "repositories": [
            {"namespace": r.namespace, "name": r.name, "description": r.description, "is_public": r.is_public}
            for r in page
        ]
    }
    if len(found) > PAGE_SIZE:
        out["next_page"] = page_token(rt, page[-1].full_name)
    return out


@router.post("", operation_id="createStar", summary="Star a repository", status_code=201)
async def create_star(rt: Rt, who: User, body: NewStarredRepository) -> dict[str, Any]:
    me = _me(who)
    access = await readable_repository(rt, who, f"{body.namespace}/{body.repository}")
    await rt.db.write(stars.star, me, access.repo.id)
    return {"namespace": body.namespace, "repository": body.repository}


@router.delete(
    "/{repository:path}",
    operation_id="deleteStar",
    summary="Remove your star from a repository",
    status_code=204,
)
async def delete_star(rt: Rt, who: User, repository: str) -> Response:
    me = _me(who)
    try:
        name = RepositoryName.parse(repository, rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError:
        raise not_found(f"no repository {repository[:300]!r}") from None
    repo = await rt.db.read(repositories.get, name.namespace, name.name)
    if repo is None:
        raise not_found(f"no repository {repository!r}")
    # A star goes even when its repository is no longer readable; without one, a repository the
    # caller may not read must look absent.
    if not await rt.db.write(stars.unstar, me, repo.id):
        await readable_repository(rt, who, repository)
    return Response(status_code=204)

"""/api/v1/repository/{repository}: the repository itself (more of it comes with the tag lifecycle)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wharf.api.deps import Rt, User, actor
from wharf.api.permissions import admined_repository
from wharf.core import repositories

router = APIRouter(prefix="/repository", tags=["repository"])


@router.delete(
    "/{repository:path}",
    operation_id="deleteRepository",
    summary="Delete a repository with its tags and manifests",
    status_code=204,
)
async def delete_repository(rt: Rt, who: User, repository: str) -> Response:
    repo = await admined_repository(rt, who, repository)
    await rt.db.write(repositories.delete_repo, repo, actor(who))
    return Response(status_code=204)

"""/api/v1/repository/{R}/build/: Wharf builds no images yet, so a repository's build list is
empty. Clients that list builds (Quay's UI, scripts polling a repository) get Quay's shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from wharf.api.deps import Caller, Rt
from wharf.api.permissions import repository_with_role
from wharf.auth import permissions

router = APIRouter(prefix="/repository", tags=["build"])


@router.get(
    "/{repository:path}/build/",
    operation_id="getRepoBuilds",
    summary="List a repository's builds (always none: Wharf does not build images)",
)
async def get_repo_builds(
    rt: Rt,
    who: Caller,
    repository: str,
    limit: int = Query(5, ge=0, description="The maximum number of builds to return"),
    since: int | None = Query(None, description="Only builds since this Unix time"),
) -> dict[str, Any]:
    await repository_with_role(rt, who, repository, permissions.READ)
    return {"builds": []}

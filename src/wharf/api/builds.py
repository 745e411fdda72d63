"""/api/v1/repository/{R}/build/: Wharf builds no images yet, so a repository's build list is
empty. Clients that list builds (Quay's UI, scripts polling a repository) get Quay's shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from wharf.api.access import ReadableRepository
from wharf.api.deps import Caller, Rt

router = APIRouter(prefix="/repository", tags=["build"])


@router.get(
    "/{repository:path}/build/",
    operation_id="getRepoBuilds",
    summary="List a repository's builds (always none: Wharf does not build images)",
)
async def get_repo_builds(
    rt: Rt,
    _target: ReadableRepository,
    who: Caller,
    repository: str,
    limit: int = Query(5, ge=0, description="The maximum number of builds to return"),
    since: int | None = Query(None, description="Only builds since this Unix time"),
) -> dict[str, Any]:
    return {"builds": []}

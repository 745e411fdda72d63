"""getRepoManifestSecurity: Wharf has no security scanner yet, so every manifest answers Quay's
`unsupported` status (what Quay says of a manifest its scanner cannot index) rather than 404, and
clients that show scan results show "unsupported"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wharf.api.access import ReadableRepository
from wharf.api.deps import Caller, Rt
from wharf.api.errors import not_found
from wharf.core import manifests
from wharf.oci.digest import is_digest

router = APIRouter(prefix="/repository", tags=["secscan"])

UNSUPPORTED = "unsupported"


@router.get(
    "/{repository:path}/manifest/{manifestref}/security",
    operation_id="getRepoManifestSecurity",
    summary="A manifest's security scan (always `unsupported`: Wharf has no scanner yet)",
)
async def get_repo_manifest_security(
    rt: Rt,
    target: ReadableRepository,
    who: Caller,
    repository: str,
    manifestref: str,
    vulnerabilities: bool = False,
) -> dict[str, Any]:
    repo = target.repo
    if not is_digest(manifestref):
        raise not_found("manifestref must be a manifest digest (sha256:...)")
    await rt.db.read(manifests.get, repo.id, manifestref)  # 404 for a manifest not in the repository
    return {"status": UNSUPPORTED, "data": None}

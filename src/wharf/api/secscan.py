"""getRepoManifestSecurity: a manifest's security scan in Quay's shape (issue 16). The answer is
the service's; with FEATURE_SECURITY_SCANNER off every manifest answers `unsupported` rather than
Quay's 404, so that clients that show scan results show "unsupported" instead of an error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wharf.api.access import ReadableRepository
from wharf.api.deps import Caller, Rt
from wharf.api.errors import not_found
from wharf.oci.digest import is_digest
from wharf.services import secscan

router = APIRouter(prefix="/repository", tags=["secscan"])


@router.get(
    "/{repository:path}/manifest/{manifestref}/security",
    operation_id="getRepoManifestSecurity",
    summary="A manifest's security scan: its status and, once scanned, its packages and vulnerabilities",
)
async def get_repo_manifest_security(
    rt: Rt,
    target: ReadableRepository,
    who: Caller,
    repository: str,
    manifestref: str,
    vulnerabilities: bool = False,
) -> dict[str, Any]:
    # `vulnerabilities` is accepted and, as in Quay's Clair v4 model, changes nothing: the
    # features always carry their vulnerabilities.
    if not is_digest(manifestref):
        raise not_found("manifestref must be a manifest digest (sha256:...)")
    return await secscan.manifest_security(
        rt.db, target.repo.id, manifestref, enabled=rt.settings.FEATURE_SECURITY_SCANNER
    )

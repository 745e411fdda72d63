"""getRepoManifestSecurity: a manifest's security scan in Quay's shape (issue 16). The answer is
the service's; with FEATURE_SECURITY_SCANNER off every manifest answers `unsupported` rather than
Quay's 404, so that clients that show scan results show "unsupported" instead of an error.

Wharf's own, beyond Quay: a manifest's SBOM (getRepoManifestSbom) and the SBOM a repository
attaches to its images as a referrer (getRepoSecuritySettings, updateRepoSecuritySettings)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from wharf.api.access import AdminRepository, ReadableRepository
from wharf.api.deps import Caller, Rt, actor
from wharf.api.errors import invalid_request, not_found
from wharf.core import secscan_settings
from wharf.oci.digest import is_digest
from wharf.secscan.sbom import CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE, Format
from wharf.services import secscan, secscan_sbom

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


@router.get(
    "/{repository:path}/manifest/{manifestref}/sbom",
    operation_id="getRepoManifestSbom",
    summary="A scanned manifest's software bill of materials, CycloneDX 1.6 or SPDX 2.3 JSON (Wharf)",
    description=(
        "Written from the stored index. `format` is `cyclonedx` (the default) or `spdx`. A manifest "
        "that is not scanned (yet) answers 404 with its scan status (`queued`, `failed`, "
        "`unsupported`) in the message."
    ),
    response_class=Response,
    responses={200: {"content": {CYCLONEDX_MEDIA_TYPE: {}, SPDX_MEDIA_TYPE: {}}}},
)
async def get_repo_manifest_sbom(
    rt: Rt,
    target: ReadableRepository,
    repository: str,
    manifestref: str,
    format: str = "cyclonedx",
) -> Response:
    if not is_digest(manifestref):
        raise not_found("manifestref must be a manifest digest (sha256:...)")
    try:
        fmt = Format(format)
    except ValueError:
        raise invalid_request(f"format must be cyclonedx or spdx, not {format!r}") from None
    answer = await secscan_sbom.manifest_sbom(
        rt.db,
        target.repo,
        manifestref,
        fmt,
        enabled=rt.settings.FEATURE_SECURITY_SCANNER,
        base=secscan_sbom.document_base(rt.settings),
    )
    if answer.document is None:
        why = f": {answer.reason}" if answer.reason else ""
        raise not_found(f"no SBOM: the manifest's scan is {answer.status}{why}")
    return Response(secscan_sbom.encode(answer.document), media_type=fmt.media_type)


class RepoSecurityBody(BaseModel):
    sbom_format: Literal["cyclonedx", "spdx"] | None = None
    """Attach this SBOM to the repository's images as a referrer; null: as its namespace says."""


@router.get(
    "/{repository:path}/securitysettings",
    operation_id="getRepoSecuritySettings",
    summary="The SBOM a repository attaches to its images as an OCI referrer (Wharf)",
)
async def get_repo_security_settings(rt: Rt, target: AdminRepository, repository: str) -> dict[str, Any]:
    return {"sbom_format": await rt.db.read(secscan_settings.repository_sbom_format, target.repo.id)}


@router.put(
    "/{repository:path}/securitysettings",
    operation_id="updateRepoSecuritySettings",
    summary="Choose the SBOM a repository attaches to its images as an OCI referrer (Wharf)",
)
async def update_repo_security_settings(
    rt: Rt, target: AdminRepository, who: Caller, repository: str, body: RepoSecurityBody
) -> dict[str, Any]:
    await rt.db.write(secscan_settings.set_repository_sbom_format, target.repo, body.sbom_format, actor(who))
    return {"sbom_format": body.sbom_format}

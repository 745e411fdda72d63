"""An organization's security settings (Wharf's own, issue 16): the pull policy that refuses /v2
pulls of vulnerable images, and the SBOM attached to its images as an OCI referrer. The web UI's
organization settings change the same things through the same service."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from wharf.api.access import AdminOrg
from wharf.api.deps import Rt, User, actor
from wharf.services import secscan_settings

router = APIRouter(prefix="/organization", tags=["organization"])

Level = Literal["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]


class PullPolicyBody(BaseModel):
    severity: Level | None
    """Refuse pulls of images with a vulnerability at or above this level; null: refuse none
    (and set the registry's default aside)."""
    fixable_only: bool = True
    """Count only the vulnerabilities that have a fixed version."""
    exempt_robots: bool = False
    exempt_superusers: bool = True


class SecuritySettingsBody(BaseModel):
    pull_policy: PullPolicyBody | None = None
    """The organization's pull policy; null: the registry's default (SECURITY_SCANNER_PULL_POLICY_*)."""
    sbom_format: Literal["cyclonedx", "spdx"] | None = None
    """Attach this SBOM to every image indexed in the organization; null: none (a repository may
    still ask for one)."""


_SHAPE = (
    "`pull_policy` is the organization's own policy (null: the registry's default applies), "
    "`registry_pull_policy` the registry's default, `effective_pull_policy` the one pulls meet "
    "(null: none); a policy is `{severity, fixable_only, exempt_robots, exempt_superusers}`."
)


@router.get(
    "/{orgname}/securitysettings",
    operation_id="getOrganizationSecuritySettings",
    summary="An organization's pull policy and SBOM attachment (Wharf)",
    description=_SHAPE,
)
async def get_organization_security_settings(
    rt: Rt, org: AdminOrg, who: User, orgname: str
) -> dict[str, Any]:
    return (await secscan_settings.get(rt, org)).view()


@router.put(
    "/{orgname}/securitysettings",
    operation_id="updateOrganizationSecuritySettings",
    summary="Set an organization's pull policy and SBOM attachment (Wharf)",
    description=_SHAPE,
)
async def update_organization_security_settings(
    rt: Rt, org: AdminOrg, who: User, orgname: str, body: SecuritySettingsBody
) -> dict[str, Any]:
    rule = None
    if body.pull_policy is not None:
        p = body.pull_policy
        rule = secscan_settings.make_policy(
            p.severity,
            fixable_only=p.fixable_only,
            exempt_robots=p.exempt_robots,
            exempt_superusers=p.exempt_superusers,
        )
    updated = await secscan_settings.update(
        rt, org, pull_policy=rule, sbom_format=body.sbom_format, actor=actor(who)
    )
    return updated.view()

"""An organization's security settings (issue 16): its pull policy and the SBOM attached to its
images, read and changed the same way by /api/v1 and the web UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf.config import Settings
from wharf.core import audit, secscan_settings
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput
from wharf.runtime import Runtime
from wharf.secscan import policy
from wharf.secscan.policy import PullPolicy


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    own_policy: PullPolicy | None
    """The namespace's own policy (severity None: explicitly none); None: the registry's default."""
    registry_policy: PullPolicy | None
    """SECURITY_SCANNER_PULL_POLICY_*; None when unset."""
    sbom_format: str | None

    @property
    def effective_policy(self) -> PullPolicy | None:
        """The policy pulls meet: the namespace's own, else the registry's; None when none."""
        chosen = self.own_policy if self.own_policy is not None else self.registry_policy
        return chosen if chosen is not None and chosen.severity is not None else None

    def view(self) -> dict[str, Any]:
        """The API's shape."""
        effective = self.effective_policy
        return {
            "pull_policy": self.own_policy.to_dict() if self.own_policy is not None else None,
            "registry_pull_policy": self.registry_policy.to_dict() if self.registry_policy else None,
            "effective_pull_policy": effective.to_dict() if effective is not None else None,
            "sbom_format": self.sbom_format,
        }


def registry_policy(settings: Settings) -> PullPolicy | None:
    if settings.SECURITY_SCANNER_PULL_POLICY_SEVERITY is None:
        return None
    return PullPolicy(
        settings.SECURITY_SCANNER_PULL_POLICY_SEVERITY,
        settings.SECURITY_SCANNER_PULL_POLICY_FIXABLE_ONLY,
        settings.SECURITY_SCANNER_PULL_POLICY_EXEMPT_ROBOTS,
        settings.SECURITY_SCANNER_PULL_POLICY_EXEMPT_SUPERUSERS,
    )


def _settings(rt: Runtime, stored: secscan_settings.NamespaceSettings) -> SecuritySettings:
    own = policy.from_json(stored.pull_policy) if stored.pull_policy is not None else None
    return SecuritySettings(own, registry_policy(rt.settings), stored.sbom_format)


async def get(rt: Runtime, org: AccountRecord) -> SecuritySettings:
    return _settings(rt, await rt.db.read(secscan_settings.namespace_settings, org.id))


def make_policy(
    severity: str | None, *, fixable_only: bool, exempt_robots: bool, exempt_superusers: bool
) -> PullPolicy:
    """A policy from a form's or a body's values: InvalidInput (on `severity`) for an unknown level."""
    try:
        return policy.make(
            severity,
            fixable_only=fixable_only,
            exempt_robots=exempt_robots,
            exempt_superusers=exempt_superusers,
        )
    except policy.PolicyError as e:
        raise InvalidInput(str(e), field="severity") from None


async def update(
    rt: Runtime,
    org: AccountRecord,
    *,
    pull_policy: PullPolicy | None,
    sbom_format: str | None,
    actor: audit.Actor | None,
) -> SecuritySettings:
    """Replace the organization's settings: `pull_policy` None returns to the registry's default,
    a policy whose severity is None refuses nothing (and sets the default aside)."""
    stored = await rt.db.write(
        secscan_settings.set_namespace_settings,
        org.id,
        org.name,
        pull_policy=pull_policy.to_json() if pull_policy is not None else None,
        sbom_format=sbom_format,
        actor=actor,
    )
    return _settings(rt, stored)

"""The pull policy: which vulnerable manifests a /v2 pull refuses, and whom it spares.

An organization stores its policy as a small JSON object (`to_json`) in one column of its account
row, which the manifest GET already reads: a pull pays nothing to learn whether a policy applies,
and parsing is cached per distinct text. This module imports nothing heavy: it is on the pull path.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Final

LEVELS: Final = ("Unknown", "Negligible", "Low", "Medium", "High", "Critical")
"""Quay's severity levels, lowest first (the order of `wharf.secscan.severity.Severity`, which
imports the CVSS library; a test keeps the two in step)."""

ROBOT: Final = "robot"
ANONYMOUS: Final = "anonymous"


@dataclass(frozen=True, slots=True)
class PullPolicy:
    severity: str | None
    """Refuse manifests with a vulnerability at or above this level; None: no policy (an
    organization's explicit "off", which also sets the registry's default aside)."""
    fixable_only: bool = True
    """Count only vulnerabilities that have a fixed version (the ones a rebuild can remove)."""
    exempt_robots: bool = False
    exempt_superusers: bool = True

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels it refuses, worst first (empty when off)."""
        if self.severity is None:
            return ()
        return tuple(reversed(LEVELS[LEVELS.index(self.severity) :]))

    def spares(self, kind: str, is_superuser: bool) -> bool:
        """Whether a caller of identity `kind` (user, robot, anonymous...) pulls regardless."""
        if self.severity is None:
            return True
        return (kind == ROBOT and self.exempt_robots) or (is_superuser and self.exempt_superusers)

    def describe(self) -> str:
        if self.severity is None:
            return "no pull policy"
        which = "fixable vulnerabilities" if self.fixable_only else "vulnerabilities"
        return f"refuse {which} of severity {self.severity} or higher"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "fixable_only": self.fixable_only,
            "exempt_robots": self.exempt_robots,
            "exempt_superusers": self.exempt_superusers,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


class PolicyError(ValueError):
    """A policy that names an unknown severity."""


def make(
    severity: str | None,
    *,
    fixable_only: bool = True,
    exempt_robots: bool = False,
    exempt_superusers: bool = True,
) -> PullPolicy:
    if severity is not None and severity not in LEVELS:
        raise PolicyError(f"severity must be one of {', '.join(LEVELS)}, not {severity!r}")
    return PullPolicy(severity, fixable_only, exempt_robots, exempt_superusers)


@functools.lru_cache(maxsize=256)
def from_json(text: str) -> PullPolicy:
    """A stored policy; an unreadable one is treated as no policy rather than refusing every pull."""
    try:
        data = json.loads(text)
        return make(
            data.get("severity"),
            fixable_only=bool(data.get("fixable_only", True)),
            exempt_robots=bool(data.get("exempt_robots", False)),
            exempt_superusers=bool(data.get("exempt_superusers", True)),
        )
    except (ValueError, AttributeError, TypeError):
        return PullPolicy(None)


@dataclass(frozen=True, slots=True)
class Finding:
    """The worst vulnerability a policy counts in a manifest."""

    osv_id: str
    severity: str
    package: str
    version: str
    fixed_by: str


def refusal(policy: PullPolicy, owner: str, finding: Finding) -> str:
    """The message a refused pull shows (podman and docker print it as the error)."""
    fix = f", fixed in {finding.fixed_by}" if finding.fixed_by else ", no fix yet"
    return (
        f"pull refused by the vulnerability policy of {owner} ({policy.describe()}): "
        f"{finding.osv_id} ({finding.severity}) in {finding.package} {finding.version}{fix}"
    )

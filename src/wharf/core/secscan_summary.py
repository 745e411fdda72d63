"""The security summary of manifests, as a page of the Tags tab shows it (issue 16): per digest,
the index's status and how many distinct vulnerabilities of each severity (and how many of them
have a fix) its packages have, for a whole page of digests in one statement.

Quay's `listRepoTags` carries no such field (its UI asks getRepoManifestSecurity once per row);
Wharf answers a page's rows together instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import case, distinct, func, select

from wharf.core.events import SEVERITIES
from wharf.db.engine import Db
from wharf.db.models import SecscanIndex, SecscanMatch, SecscanVulnerability

QUEUED: Final = "queued"
"""The status of a digest with no index yet (core.secscan.QUEUED)."""
WORST_FIRST: Final = SEVERITIES


@dataclass(frozen=True, slots=True)
class Summary:
    status: str
    """queued | scanned | failed | unsupported"""
    counts: dict[str, int] = field(default_factory=dict)
    """Severity (Quay's level) -> distinct vulnerabilities; only severities found."""
    fixable: int = 0
    """Distinct vulnerabilities some package of the image can be upgraded out of."""
    reason: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def by_severity(self) -> list[tuple[str, int]]:
        """(severity, count) worst first, only those found."""
        return [(s, self.counts[s]) for s in WORST_FIRST if self.counts.get(s)]

    @property
    def worst(self) -> str | None:
        found = self.by_severity
        return found[0][0] if found else None


def summaries(db: Db, digests: Sequence[str]) -> dict[str, Summary]:
    """The summary of each of `digests` (a page's: tens, at most a few hundred), one statement;
    a digest with no index is `queued`."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    fixed = case((SecscanMatch.fixed_by != "", SecscanMatch.vulnerability_id))
    rows = db.execute(
        select(
            SecscanIndex.digest,
            SecscanIndex.status,
            SecscanIndex.reason,
            SecscanVulnerability.severity,
            func.count(distinct(SecscanMatch.vulnerability_id)).label("n"),
            func.count(distinct(fixed)).label("fixable"),
        )
        .outerjoin(SecscanMatch, SecscanMatch.manifest_digest == SecscanIndex.digest)
        .outerjoin(SecscanVulnerability, SecscanVulnerability.id == SecscanMatch.vulnerability_id)
        .where(SecscanIndex.digest.in_(wanted))
        .group_by(
            SecscanIndex.digest, SecscanIndex.status, SecscanIndex.reason, SecscanVulnerability.severity
        )
    )
    status: dict[str, tuple[str, str | None]] = {}
    counts: dict[str, dict[str, int]] = {}
    fixable: dict[str, int] = {}
    for r in rows:
        digest = str(r.digest)
        status[digest] = (str(r.status), r.reason)
        if r.severity is not None and r.n:
            counts.setdefault(digest, {})[str(r.severity)] = int(r.n)
            fixable[digest] = fixable.get(digest, 0) + int(r.fixable)
    return {
        d: Summary(status[d][0], counts.get(d, {}), fixable.get(d, 0), status[d][1])
        if d in status
        else Summary(QUEUED)
        for d in wanted
    }

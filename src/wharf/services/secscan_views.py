"""What the web UI shows of security scanning (issue 16): the summaries of a page of the Tags
tab, a manifest's report for its security page, and the scanner's state for the superuser
panel. Reads only; each one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wharf.core import manifests, secscan_summary
from wharf.core import secscan as store
from wharf.core.repositories import RepositoryRecord
from wharf.core.secscan_summary import Summary
from wharf.db.engine import Db
from wharf.runtime import Runtime


async def tag_summaries(rt: Runtime, digests: Sequence[str]) -> dict[str, Summary] | None:
    """The security summary of each digest of a Tags page (one statement for the page), or None
    when scanning is off (the tab then has no Security column)."""
    if not rt.settings.FEATURE_SECURITY_SCANNER:
        return None
    if not digests:
        return {}
    return await rt.db.read(secscan_summary.summaries, list(digests))


@dataclass(frozen=True, slots=True)
class ManifestSecurity:
    enabled: bool
    status: str
    """queued | scanned | failed | unsupported (unsupported when scanning is off)."""
    report: store.Report | None
    """The index with its packages and their vulnerabilities, once there is an index."""


async def manifest_security(rt: Runtime, repo: RepositoryRecord, digest: str) -> ManifestSecurity:
    """The security report of the manifest `digest` of `repo` (raises NotFound when the
    repository holds no such manifest)."""
    enabled = rt.settings.FEATURE_SECURITY_SCANNER

    def read(db: Db) -> ManifestSecurity:
        manifests.get(db, repo.id, digest)
        if not enabled:
            return ManifestSecurity(False, store.UNSUPPORTED, None)
        found = store.report(db, digest)
        return ManifestSecurity(True, found.index.status if found else store.QUEUED, found)

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class ScannerState:
    enabled: bool
    configured: list[str]
    """SECURITY_SCANNER_VULN_SOURCES, as configured."""
    sources: list[store.SourceRecord]
    """Every source ever updated from (a removed entry stays listed with its last state)."""
    status: store.Status


async def scanner_state(rt: Runtime) -> ScannerState:
    def read(db: Db) -> ScannerState:
        return ScannerState(
            rt.settings.FEATURE_SECURITY_SCANNER,
            list(rt.settings.SECURITY_SCANNER_VULN_SOURCES),
            store.sources(db),
            store.status(db),
        )

    return await rt.db.read(read)

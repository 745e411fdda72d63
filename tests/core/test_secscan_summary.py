"""core.secscan_summary on the real database: a page of digests summarized in one statement,
with each index's state, its distinct vulnerabilities by severity and how many have a fix."""

from __future__ import annotations

from wharf.core import secscan, secscan_summary
from wharf.core.secscan import AffectedRow, MatchRow, PackageRow, VulnerabilityRow
from wharf.db.engine import Database, Db

IMAGE = "sha256:" + "a" * 64
FAILED = "sha256:" + "b" * 64
CLEAN = "sha256:" + "c" * 64
WAITING = "sha256:" + "d" * 64
LAYER = "sha256:" + "e" * 64


def _vuln(osv_id: str, severity: str) -> VulnerabilityRow:
    return VulnerabilityRow(
        osv_id=osv_id,
        modified="2024-01-01T00:00:00Z",
        severity=severity,
        source="test",
        affected=(AffectedRow("Debian:12", "openssl", {}),),
    )


def _world(db: Db) -> None:
    ssl = PackageRow("libssl3", "3.0.11", "dpkg", "Debian:12", "openssl", "debian:12", LAYER)
    crypto = PackageRow("libcrypto3", "3.0.11", "dpkg", "Debian:12", "openssl", "debian:12", LAYER)
    stored = secscan.record_index(db, IMAGE, secscan.SCANNED, 1, packages=[ssl, crypto])
    secscan.record_index(db, FAILED, secscan.FAILED, 1, reason="layer x: truncated")
    secscan.record_index(db, CLEAN, secscan.SCANNED, 1)
    for osv_id, severity in (("A", "High"), ("B", "High"), ("C", "Low")):
        secscan.store_vulnerability(db, _vuln(osv_id, severity))
    ids = {a.vulnerability_id for a in secscan.advisories_for(db, [("Debian:12", "openssl")])}
    a, b, c = sorted(ids)
    matches = [
        # A affects both packages: it counts once.
        MatchRow(stored[0].id, a, IMAGE, "3.0.13"),
        MatchRow(stored[1].id, a, IMAGE, ""),
        MatchRow(stored[0].id, b, IMAGE, ""),
        MatchRow(stored[0].id, c, IMAGE, "3.0.12"),
    ]
    secscan.replace_matches(db, [p.id for p in stored], matches)


def test_a_page_of_digests_in_one_statement(db: Database) -> None:
    db.run_write(_world)
    found = db.run_read(secscan_summary.summaries, [IMAGE, FAILED, CLEAN, WAITING, IMAGE])
    image = found[IMAGE]
    assert (image.status, image.counts, image.fixable, image.total) == (
        "scanned",
        {"High": 2, "Low": 1},
        2,
        3,
    )
    assert (image.by_severity, image.worst) == ([("High", 2), ("Low", 1)], "High")
    assert (found[FAILED].status, found[FAILED].reason, found[FAILED].total) == (
        "failed",
        "layer x: truncated",
        0,
    )
    assert (found[CLEAN].status, found[CLEAN].total, found[CLEAN].worst) == ("scanned", 0, None)
    assert found[WAITING].status == "queued"
    assert db.run_read(secscan_summary.summaries, []) == {}

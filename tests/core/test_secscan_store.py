"""core.secscan on the real database: indexes replace earlier ones with their packages and
matches, the vulnerability store tells which package names an update touches, and a report
joins it all."""

from __future__ import annotations

from wharf.core import secscan
from wharf.core.secscan import AffectedRow, MatchRow, PackageRow, VulnerabilityRow
from wharf.db.engine import Database, Db

DIGEST = "sha256:" + "a" * 64
LAYER = "sha256:" + "b" * 64

OPENSSL = PackageRow(
    name="libssl3",
    version="3.0.11-1~deb12u1",
    version_format="dpkg",
    ecosystem="Debian:12",
    match_name="openssl",
    namespace="debian:12",
    added_by=LAYER,
    source_name="openssl",
    arch="amd64",
    path="var/lib/dpkg/status",
)
ZLIB = PackageRow("zlib1g", "1:1.2.13.dfsg-1", "dpkg", "Debian:12", "zlib", "debian:12", LAYER)


def _vuln(osv_id: str, modified: str, package: str) -> VulnerabilityRow:
    return VulnerabilityRow(
        osv_id=osv_id,
        modified=modified,
        severity="High",
        source="test",
        aliases=("CVE-2024-0001",),
        summary="a flaw",
        links=("https://example.test/" + osv_id,),
        score=7.5,
        vector="CVS:3.1/AV:N",
        affected=(AffectedRow("Debian:12", package, {"package": {"name": package}}),),
    )


def test_an_index_replaces_the_earlier_one_with_its_packages_and_matches(db: Database) -> None:
    stored = db.run_write(
        secscan.record_index,
        DIGEST,
        secscan.SCANNED,
        1,
        distribution={"id": "debian"},
        packages=[OPENSSL, ZLIB],
    )
    assert [p.package for p in stored] == [OPENSSL, ZLIB]
    db.run_write(secscan.store_vulnerability, _vuln("DSA-1", "2024-01-01T00:00:00Z", "openssl"))
    vuln_id = db.run_read(lambda c: secscan.advisories_for(c, [("Debian:12", "openssl")]))[0].vulnerability_id
    db.run_write(
        secscan.replace_matches, [stored[0].id], [MatchRow(stored[0].id, vuln_id, DIGEST, "3.0.13-1")]
    )

    report = db.run_read(secscan.report, DIGEST)
    assert report is not None
    assert report.index.status == "scanned" and report.index.distribution == {"id": "debian"}
    [found] = report.vulnerabilities[stored[0].id]
    assert (found.osv_id, found.fixed_by, found.severity, found.score) == ("DSA-1", "3.0.13-1", "High", 7.5)
    assert found.aliases == ("CVE-2024-0001",) and found.ecosystem == "Debian:12"

    # Indexed again (a new indexer): the old packages and matches go with the old index.
    again = db.run_write(secscan.record_index, DIGEST, secscan.FAILED, 2, reason="layer x: truncated")
    assert again == []
    report = db.run_read(secscan.report, DIGEST)
    assert report is not None
    assert (report.index.status, report.index.reason, report.packages, report.vulnerabilities) == (
        "failed",
        "layer x: truncated",
        [],
        {},
    )
    assert db.run_read(secscan.status).matches == 0


def test_storing_a_record_names_the_packages_it_touched_before_and_now(db: Database) -> None:
    keys = db.run_write(secscan.store_vulnerability, _vuln("DSA-2", "2024-01-01T00:00:00Z", "openssl"))
    assert keys == {("Debian:12", "openssl")}
    assert db.run_read(secscan.modified_of, ["DSA-2", "DSA-3"]) == {"DSA-2": "2024-01-01T00:00:00Z"}

    # The record moves to another package: both names need a re-match.
    keys = db.run_write(secscan.store_vulnerability, _vuln("DSA-2", "2024-02-01T00:00:00Z", "zlib"))
    assert keys == {("Debian:12", "openssl"), ("Debian:12", "zlib")}
    assert db.run_read(lambda c: secscan.advisories_for(c, [("Debian:12", "openssl")])) == []
    status = db.run_read(secscan.status)
    assert (status.vulnerabilities, status.newest_modified) == (1, "2024-02-01T00:00:00Z")


def test_packages_are_found_by_name_across_indexes(db: Database) -> None:
    other = "sha256:" + "c" * 64
    db.run_write(secscan.record_index, DIGEST, secscan.SCANNED, 1, packages=[OPENSSL, ZLIB])
    db.run_write(secscan.record_index, other, secscan.SCANNED, 1, packages=[OPENSSL])
    found = db.run_read(lambda c: secscan.packages_named(c, [("Debian:12", "openssl")]))
    assert sorted(p.manifest_digest for p in found) == [DIGEST, other]


def test_the_push_queues_one_job_per_digest(db: Database) -> None:
    def twice(c: Db) -> None:
        secscan.enqueue_index(c, DIGEST)
        secscan.enqueue_index(c, DIGEST)

    db.run_write(twice)
    assert db.run_read(secscan.status).waiting == 1
    assert db.run_read(secscan.get_index, DIGEST) is None  # no row: still queued


def test_prune_drops_the_indexes_of_digests_no_repository_holds(db: Database) -> None:
    db.run_write(secscan.record_index, DIGEST, secscan.SCANNED, 1, packages=[OPENSSL])
    db.run_write(secscan.store_vulnerability, _vuln("DSA-4", "2024-01-01T00:00:00Z", "openssl"))
    [package] = db.run_read(secscan.packages_of, DIGEST)
    [advisory] = db.run_read(lambda c: secscan.advisories_for(c, [("Debian:12", "openssl")]))
    db.run_write(
        secscan.replace_matches, [package.id], [MatchRow(package.id, advisory.vulnerability_id, DIGEST)]
    )
    assert db.run_write(secscan.prune, 10) == 1  # no manifest row has this digest
    assert db.run_read(secscan.get_index, DIGEST) is None
    status = db.run_read(secscan.status)
    assert (status.indexes, status.matches, status.vulnerabilities) == ({}, 0, 1)


def test_a_manifest_is_found_by_digest_alone_through_an_index(db: Database) -> None:
    """The index job reads a manifest's body by digest, whatever repository holds it: an index
    lookup, not a scan of every manifest (once per indexed image)."""
    from sqlalchemy import select, text

    from wharf.db.models import Manifest

    def plan(c: Db) -> str:
        q = select(Manifest.media_type, Manifest.content).where(
            Manifest.digest == "sha256:" + "0" * 64, secscan._ALIVE
        )
        compiled = q.compile(c, compile_kwargs={"literal_binds": True})
        sqlite = c.dialect.name == "sqlite"
        if not sqlite:
            c.execute(text("SET LOCAL enable_seqscan = off"))
        rows = c.execute(text(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + str(compiled))).all()
        return "\n".join(str(row[-1]) for row in rows)

    found = db.run_write(plan)
    assert "ix_manifests_digest" in found, found

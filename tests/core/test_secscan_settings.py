"""core.secscan_settings on the real database: the pull policy's one read (the worst counted
vulnerability of a digest), the settings with their validation and audit entries, and which
repositories want an SBOM of a digest."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from tests.conftest import DB_BACKEND
from wharf.core import accounts, audit, manifests, orgs, repositories, secscan, secscan_settings
from wharf.core.errors import InvalidInput
from wharf.core.secscan import AffectedRow, MatchRow, PackageRow, VulnerabilityRow
from wharf.db.engine import Database, Db
from wharf.db.models import LogEntry, SecscanVulnerability
from wharf.oci import mediatypes as mt
from wharf.oci.manifest import parse_manifest

DIGEST = "sha256:" + "a" * 64
LAYER = "sha256:" + "b" * 64
SSL = PackageRow("libssl3", "3.0.11-1", "dpkg", "Debian:12", "openssl", "debian:12", LAYER)
LIBC = PackageRow("libc6", "2.36-9", "dpkg", "Debian:12", "glibc", "debian:12", LAYER)
# osv id -> (severity, source package, fixed version)
VULNS = {
    "V-MEDIUM-FIXED": ("Medium", "openssl", "3.0.13"),
    "V-HIGH-FIXED": ("High", "glibc", "2.36-10"),
    "V-CRITICAL-OPEN": ("Critical", "glibc", ""),
    "A-HIGH-FIXED": ("High", "openssl", "3.0.12"),
}
BY = audit.Actor(None, "test")


def _stored(db: Database) -> None:
    ssl, libc = db.run_write(secscan.record_index, DIGEST, secscan.SCANNED, 1, packages=[SSL, LIBC])
    for osv_id, (severity, package, _) in VULNS.items():
        record = VulnerabilityRow(
            osv_id,
            "2024-01-01T00:00:00Z",
            severity,
            "test",
            affected=(AffectedRow("Debian:12", package, {}),),
        )
        db.run_write(secscan.store_vulnerability, record)

    def ids(c: Db) -> dict[str, int]:
        rows = c.execute(select(SecscanVulnerability.osv_id, SecscanVulnerability.id))
        return {str(r[0]): int(r[1]) for r in rows}

    matches = [
        MatchRow((ssl if VULNS[osv][1] == "openssl" else libc).id, vid, DIGEST, VULNS[osv][2])
        for osv, vid in db.run_read(ids).items()
    ]
    db.run_write(secscan.replace_matches, [ssl.id, libc.id], matches)


@pytest.mark.parametrize(
    ("levels", "fixable_only", "worst"),
    [
        (("Critical",), False, "V-CRITICAL-OPEN"),
        (("Critical",), True, None),
        (("Critical", "High"), True, "A-HIGH-FIXED"),  # among equals, by id
        (("Critical", "High", "Medium"), False, "V-CRITICAL-OPEN"),
        (("Low",), False, None),
        ((), False, None),
    ],
)
def test_worst_match(db: Database, levels: tuple[str, ...], fixable_only: bool, worst: str | None) -> None:
    _stored(db)
    found = db.run_read(secscan_settings.worst_match, DIGEST, levels, fixable_only)
    assert (found.osv_id if found else None) == worst
    if found is not None and found.osv_id == "A-HIGH-FIXED":
        assert (found.package, found.version, found.fixed_by) == ("libssl3", "3.0.11-1", "3.0.12")
    assert db.run_read(secscan_settings.worst_match, "sha256:" + "f" * 64, ("Critical",), False) is None


def test_settings_are_stored_validated_and_logged(db: Database) -> None:
    def org(c: Db) -> int:
        owner = accounts.create_user(c, "owner", None, None)
        return orgs.create(c, "acme", None, owner, BY).id

    org_id = db.run_write(org)
    assert db.run_read(secscan_settings.namespace_settings, org_id) == secscan_settings.NamespaceSettings(
        None, None
    )
    db.run_write(
        secscan_settings.set_namespace_settings,
        org_id,
        "acme",
        pull_policy='{"severity": "High"}',
        sbom_format="spdx",
        actor=BY,
    )
    stored = db.run_read(secscan_settings.namespace_settings, org_id)
    assert stored == secscan_settings.NamespaceSettings('{"severity": "High"}', "spdx")
    with pytest.raises(InvalidInput) as refused:
        db.run_write(
            secscan_settings.set_namespace_settings,
            org_id,
            "acme",
            pull_policy=None,
            sbom_format="xml",
            actor=BY,
        )
    assert refused.value.field == "sbom_format"
    assert db.run_read(secscan_settings.namespace_settings, 10_000) == secscan_settings.NamespaceSettings(
        None, None
    )
    kinds = db.run_read(
        lambda c: list(c.execute(select(LogEntry.kind).where(LogEntry.account_id == org_id)).scalars())
    )
    assert "org_change_security_settings" in kinds


def test_sbom_targets_take_the_repositorys_format_else_the_namespaces(db: Database) -> None:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'

    def fill(c: Db) -> str:
        owner = accounts.create_user(c, "owner", None, None)
        org = orgs.create(c, "acme", None, owner, BY)
        parsed = parse_manifest(body, mt.OCI_INDEX)
        for name in ("app", "pub", "other"):
            repo = repositories.create(c, "acme", name, visibility="private", actor=None)
            record = manifests.put(c, repo, "v1", body, parsed, None)
        pub = repositories.get(c, "acme", "pub")
        assert pub is not None
        secscan_settings.set_namespace_settings(
            c, org.id, "acme", pull_policy=None, sbom_format="cyclonedx", actor=BY
        )
        secscan_settings.set_repository_sbom_format(c, pub, "spdx", BY)
        return record.digest

    digest = db.run_write(fill)
    found = {(repo.name, fmt) for repo, fmt in db.run_read(secscan_settings.sbom_targets, digest)}
    assert found == {("app", "cyclonedx"), ("pub", "spdx"), ("other", "cyclonedx")}
    assert db.run_read(secscan_settings.repository_sbom_format, 10_000) is None


@pytest.mark.skipif(DB_BACKEND != "sqlite", reason="SQLite's planner; PostgreSQL plans by table sizes")
def test_the_policys_read_is_one_index_search(db: Database) -> None:
    """What a refused-or-not pull pays when a policy applies: the matches of one digest through
    their index, the rest by primary key."""
    statement = secscan_settings._worst(("Critical", "High"), True).params(digest=DIGEST)
    sql = str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    steps = [str(r[-1]) for r in db.run_read(lambda c: list(c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")))]
    assert not [s for s in steps if s.startswith(("SCAN", "MATERIALIZE"))], steps
    assert steps[0].startswith("SEARCH secscan_matches USING INDEX ix_secscan_matches_manifest_digest"), steps

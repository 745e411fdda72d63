"""core.secscan_notices on the real database: what was announced is recorded whether or not a
repository listens, is never announced again, and a pair another transaction recorded first is
left to it."""

from __future__ import annotations

from sqlalchemy import func, select

from wharf.core import secscan, secscan_notices
from wharf.core.secscan import VulnerabilityRow
from wharf.core.secscan_notices import Found
from wharf.db.engine import Database, Db
from wharf.db.models import SecscanAnnounced, SecscanVulnerability

IMAGE = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def _vulns(db: Db) -> list[int]:
    """Two records, A and B; their ids in that order."""
    for osv_id in ("A", "B"):
        secscan.store_vulnerability(
            db, VulnerabilityRow(osv_id=osv_id, modified="2024-01-01T00:00:00Z", severity="High", source="t")
        )
    ids = db.execute(select(SecscanVulnerability.id).order_by(SecscanVulnerability.osv_id)).scalars()
    return [int(i) for i in ids]


def _count(db: Db) -> int:
    return int(db.execute(select(func.count()).select_from(SecscanAnnounced)).scalar_one())


def test_each_pair_is_recorded_once_and_never_announced_again(db: Database) -> None:
    a, b = db.run_write(_vulns)
    found = [Found(IMAGE, a, "1.2"), Found(IMAGE, a, ""), Found(IMAGE, b), Found(OTHER, a)]
    # No repository holds these digests, let alone listens: nothing is queued, all is recorded.
    assert db.run_write(secscan_notices.announce, found, None) == 0
    assert db.run_read(_count) == 3
    assert db.run_write(secscan_notices.announce, found, None) == 0
    assert db.run_read(_count) == 3

    # A pair recorded by another transaction after this one looked is not this one's to announce.
    db.run_write(secscan_notices.forget, [OTHER])
    assert db.run_read(_count) == 2
    assert db.run_write(secscan_notices._record, [(IMAGE, a), (OTHER, a)]) == [(OTHER, a)]
    assert db.run_read(_count) == 3

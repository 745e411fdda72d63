"""`vulnerability_found` for security scanning (issue 16): when matching finds a vulnerability in
a manifest digest that was never announced for it (an index that reveals it, or new data that
reveals it in an image already stored), every repository holding that manifest with such a
notification is told, once per (manifest, vulnerability).

`secscan_announced` remembers what was announced: a re-match (the same data imported again, a
record changed, a re-index by a newer indexer) finds the pair there and says nothing. The pair is
recorded even when no repository listens, so that adding a notification later does not replay the
image's whole history.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import delete, select

from wharf.core import events, notifications, tags
from wharf.core._sql import dialect_insert
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import (
    Manifest,
    Notification,
    Repository,
    SecscanAnnounced,
    SecscanVulnerability,
    Tag,
)

EVENT: Final = "vulnerability_found"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Found:
    """A vulnerability a match found in a manifest digest, and whether a version fixes it."""

    manifest_digest: str
    vulnerability_id: int
    fixed_by: str = ""


def announce(db: Db, found: Iterable[Found], origin: str | None) -> int:
    """Announce the pairs of `found` not announced before; returns how many deliveries were
    queued. Costs one look-up per chunk of digests when nothing is new."""
    fixable: dict[tuple[str, int], bool] = {}
    for f in found:
        key = (f.manifest_digest, f.vulnerability_id)
        fixable[key] = fixable.get(key, False) or bool(f.fixed_by)
    new = _record(db, sorted(set(fixable) - _announced(db, {d for d, _ in fixable})))
    if not new:
        return 0
    by_digest: dict[str, list[int]] = defaultdict(list)
    for d, v in new:
        by_digest[d].append(v)
    watchers = _watchers(db, sorted(by_digest))
    if not watchers:
        return 0
    details = _details(db, sorted({v for w in watchers for v in by_digest[w.digest]}))
    queued = 0
    for w in watchers:
        for vuln_id in by_digest[w.digest]:
            vuln = details[vuln_id]
            data = events.repository_data(
                origin,
                w.namespace,
                w.name,
                tags=w.tags or [w.digest],
                manifest_digest=w.digest,
                vulnerability={**vuln, "has_fix": fixable[(w.digest, vuln_id)]},
            )
            queued += notifications.fire(db, EVENT, data, None, repository_id=w.repository_id)
    return queued


def _announced(db: Db, digests: set[str]) -> set[tuple[str, int]]:
    done: set[tuple[str, int]] = set()
    ordered = sorted(digests)
    for start in range(0, len(ordered), _CHUNK):
        rows = db.execute(
            select(SecscanAnnounced.manifest_digest, SecscanAnnounced.vulnerability_id).where(
                SecscanAnnounced.manifest_digest.in_(ordered[start : start + _CHUNK])
            )
        )
        done |= {(str(r.manifest_digest), int(r.vulnerability_id)) for r in rows}
    return done


def _record(db: Db, pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Record `pairs` as announced; returns those this transaction recorded. A concurrent match
    of the same image (an index job and an update at once) may have recorded some meanwhile:
    ON CONFLICT DO NOTHING with RETURNING leaves them to the transaction that did, so that each
    pair is announced once even then."""
    if not pairs:
        return []
    now = now_ms()
    statement = (
        dialect_insert(db.dialect.name, SecscanAnnounced)
        .on_conflict_do_nothing()
        .returning(SecscanAnnounced.manifest_digest, SecscanAnnounced.vulnerability_id)
    )
    recorded: list[tuple[str, int]] = []
    for start in range(0, len(pairs), _CHUNK):
        rows = [
            {"manifest_digest": d, "vulnerability_id": v, "announced_ms": now}
            for d, v in pairs[start : start + _CHUNK]
        ]
        got = db.execute(statement, rows)
        recorded += [(str(r.manifest_digest), int(r.vulnerability_id)) for r in got]
    return sorted(recorded)


@dataclass(slots=True)
class _Watcher:
    repository_id: int
    namespace: str
    name: str
    digest: str
    manifest_id: int
    tags: list[str]


def _watchers(db: Db, digests: Sequence[str]) -> list[_Watcher]:
    """The live manifests with these digests in repositories that have a working
    vulnerability_found notification, with the live tags pointing at each."""
    armed = (
        select(Notification.id)
        .where(
            Notification.repository_id == Manifest.repository_id,
            Notification.event == EVENT,
            Notification.number_of_failures < notifications.DISABLE_AFTER,
        )
        .exists()
    )
    found: list[_Watcher] = []
    for start in range(0, len(digests), _CHUNK):
        rows = db.execute(
            select(
                Manifest.id, Manifest.digest, Manifest.repository_id, Repository.full_name, Repository.name
            )
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(Manifest.digest.in_(digests[start : start + _CHUNK]), Manifest.deleted_ms.is_(None), armed)
            .order_by(Repository.full_name, Manifest.digest)
        )
        found += [
            _Watcher(int(r.repository_id), r.full_name.split("/", 1)[0], r.name, r.digest, int(r.id), [])
            for r in rows
        ]
    if found:
        by_manifest = {w.manifest_id: w for w in found}
        names = db.execute(
            select(Tag.manifest_id, Tag.name)
            .where(Tag.manifest_id.in_(list(by_manifest)), tags.OPEN)
            .order_by(Tag.name)
        )
        for t in names:
            by_manifest[int(t.manifest_id)].tags.append(str(t.name))
    return found


def _details(db: Db, vuln_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Quay's `vulnerability` of the event: id, description, link, priority (has_fix is the
    match's)."""
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(vuln_ids), _CHUNK):
        rows = db.execute(
            select(
                SecscanVulnerability.id,
                SecscanVulnerability.osv_id,
                SecscanVulnerability.summary,
                SecscanVulnerability.details,
                SecscanVulnerability.links_json,
                SecscanVulnerability.severity,
            ).where(SecscanVulnerability.id.in_(vuln_ids[start : start + _CHUNK]))
        )
        for r in rows:
            links = json.loads(r.links_json or "[]")
            out[int(r.id)] = {
                "id": r.osv_id,
                "description": r.details or r.summary,
                "link": links[0] if links else f"https://osv.dev/vulnerability/{r.osv_id}",
                "priority": r.severity,
            }
    return out


def forget(db: Db, digests: Sequence[str]) -> None:
    """Drop what was announced for digests no repository holds any more."""
    for start in range(0, len(digests), _CHUNK):
        db.execute(
            delete(SecscanAnnounced).where(
                SecscanAnnounced.manifest_digest.in_(digests[start : start + _CHUNK])
            )
        )

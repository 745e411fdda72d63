"""Log rotation: usage-log entries older than ACTION_LOG_ROTATION_THRESHOLD move to storage.

Entries leave in batches, lowest id first. A batch is the run of consecutive ids that starts at the
lowest id left and ends before the first entry that is still too young. Its file is written in
full and published under its final name, `logarchive/<first id>.jsonl.gz`, before its rows are
deleted. After a crash between the two steps, the next run starts at the same id, finds the same
entries (and perhaps a few that have aged since) and replaces the file of the same name: nothing
is lost and nothing is archived twice. The newest entry always stays, so that SQLite, which hands
out max(id)+1, never gives an archived id to a new entry.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import takewhile
from typing import Any

from sqlalchemy import delete, func, select

from wharf.core._staging import published
from wharf.db.engine import Database, Db
from wharf.db.models import Account, LogEntry, Repository
from wharf.storage.base import BlobStore

PREFIX = "logarchive"
BATCH = 1000
SUFFIX = ".jsonl.gz"


@dataclass(frozen=True, slots=True)
class Batch:
    first_id: int
    last_id: int
    lines: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Rotation:
    files: int
    entries: int


def archive_path(first_id: int) -> str:
    # Zero-padded, so that the files list in id order.
    return f"{PREFIX}/{first_id:020d}{SUFFIX}"


def _metadata(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {"__raw": text}


def next_batch(db: Db, cutoff_ms: int, limit: int = BATCH) -> Batch | None:
    """The next entries to archive: created before `cutoff_ms`, at most `limit`; None when none."""
    newest = db.execute(select(func.max(LogEntry.id))).scalar()
    if newest is None:
        return None
    rows = db.execute(
        select(
            LogEntry.id,
            LogEntry.kind,
            LogEntry.created_ms,
            LogEntry.ip,
            LogEntry.account_id,
            LogEntry.performer_id,
            LogEntry.repository_id,
            LogEntry.metadata_json,
        )
        .where(LogEntry.id < newest)
        .order_by(LogEntry.id)
        .limit(limit)
    ).all()
    old = list(takewhile(lambda r: r.created_ms < cutoff_ms, rows))
    if not old:
        return None
    account_ids = {i for r in old for i in (r.account_id, r.performer_id) if i is not None}
    repository_ids = {r.repository_id for r in old if r.repository_id is not None}
    # Names as they are now: an archive outlives renames and deletions, ids alone would be opaque.
    accounts = {
        r.id: r.name for r in db.execute(select(Account.id, Account.name).where(Account.id.in_(account_ids)))
    }
    repositories = {
        r.id: r.full_name
        for r in db.execute(
            select(Repository.id, Repository.full_name).where(Repository.id.in_(repository_ids))
        )
    }
    lines = [
        {
            "id": r.id,
            "kind": r.kind,
            "datetime": datetime.fromtimestamp(r.created_ms / 1000, UTC).isoformat(timespec="milliseconds"),
            "created_ms": r.created_ms,
            "ip": r.ip,
            "account_id": r.account_id,
            "account": accounts.get(r.account_id) if r.account_id is not None else None,
            "performer_id": r.performer_id,
            "performer": accounts.get(r.performer_id) if r.performer_id is not None else None,
            "repository_id": r.repository_id,
            "repository": repositories.get(r.repository_id) if r.repository_id is not None else None,
            "metadata": _metadata(r.metadata_json),
        }
        for r in old
    ]
    return Batch(old[0].id, old[-1].id, lines)


async def write_batch(store: BlobStore, batch: Batch) -> str:
    """Write the batch's file (gzip, one JSON object a line) and publish it whole; its path."""
    path = archive_path(batch.first_id)
    gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member, readable by gunzip
    async with published(store, path) as writer:
        for line in batch.lines:
            data = gzip.compress(json.dumps(line, separators=(",", ":")).encode() + b"\n")
            if data:
                await writer.write(data)
        await writer.write(gzip.flush())
    return path


def delete_batch(db: Db, batch: Batch, cutoff_ms: int) -> int:
    """Delete the archived rows; the age test keeps an entry committed late with an id in range."""
    result = db.execute(
        delete(LogEntry).where(
            LogEntry.id >= batch.first_id, LogEntry.id <= batch.last_id, LogEntry.created_ms < cutoff_ms
        )
    )
    return int(result.rowcount)


async def rotate(database: Database, store: BlobStore, cutoff_ms: int, batch_size: int = BATCH) -> Rotation:
    """Archive and delete every entry created before `cutoff_ms` (but the newest)."""
    files = entries = 0
    while (batch := await database.read(next_batch, cutoff_ms, batch_size)) is not None:
        await write_batch(store, batch)
        entries += await database.write(delete_batch, batch, cutoff_ms)
        files += 1
    return Rotation(files, entries)

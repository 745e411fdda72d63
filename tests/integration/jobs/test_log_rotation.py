"""Log rotation: entries older than ACTION_LOG_ROTATION_THRESHOLD are archived to storage as gzip
JSON lines and only then deleted; a rerun, even after a crash between the two, neither loses nor
repeats an entry."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from wharf.app import WharfApp, build_app
from wharf.config import Settings, load_settings
from wharf.core import accounts, log_archive, queue
from wharf.core.clock import now_ms
from wharf.db.models import LogEntry
from wharf.jobs import log_export, runner
from wharf.runtime import Runtime

DAY_MS = 86_400_000


def _config(data_dir: object, db_uri: str | None, **changes: Any) -> dict[str, Any]:
    return {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "FEATURE_ACTION_LOG_ROTATION": True,
        "ACTION_LOG_ROTATION_THRESHOLD": "30d",
        **changes,
    }


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    return load_settings(None, _config(data_dir, db_uri), environ={})


async def _seed(rt: Runtime, old: int, young: int) -> int:
    """An installation whose log goes back 60 days: what exists is aged, then `old` entries of
    31-40 days and `young` ones of under 30 days are added. Returns how many are old in all."""
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    now = now_ms()

    def write(db: Any) -> int:
        db.execute(update(LogEntry).values(created_ms=now - 60 * DAY_MS))
        aged = int(db.execute(select(func.count()).select_from(LogEntry)).scalar())
        rows = [
            {
                "kind": "push_repo",
                "account_id": admin.id,
                "performer_id": admin.id,
                "repository_id": None,
                "ip": "192.0.2.9",
                "created_ms": now - 40 * DAY_MS + i * 300_000,
                "metadata_json": json.dumps({"n": i}),
            }
            for i in range(old)
        ] + [
            {
                "kind": "pull_repo",
                "account_id": admin.id,
                "performer_id": None,
                "repository_id": None,
                "ip": None,
                "created_ms": now - 29 * DAY_MS + i,
                "metadata_json": "{}",
            }
            for i in range(young)
        ]
        db.execute(insert(LogEntry), rows)
        return aged + old

    return await rt.db.write(write)


async def _rotate(rt: Runtime) -> None:
    await rt.db.write(lambda db: queue.enqueue(db, "log_rotation"))
    assert await runner.run_once(rt)


async def _archives(rt: Runtime) -> dict[str, bytes]:
    return {p: await rt.store.get_bytes(p) async for p in rt.store.list(log_archive.PREFIX)}


def _lines(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path, data in sorted(files.items())
        if path.endswith(log_archive.SUFFIX)
        for line in gzip.decompress(data).decode().splitlines()
    ]


async def _left(rt: Runtime) -> list[tuple[int, int]]:
    query = select(LogEntry.id, LogEntry.created_ms).order_by(LogEntry.id)
    return await rt.db.read(lambda db: [(r.id, r.created_ms) for r in db.execute(query)])


async def test_old_entries_are_archived_then_deleted_and_a_rerun_changes_nothing(wharf: WharfApp) -> None:
    rt = wharf.rt
    assert "log_rotation" in runner.periodic(rt)
    old = await _seed(rt, 2_500, 5)
    await _rotate(rt)
    files = await _archives(rt)
    assert all(p.endswith(log_archive.SUFFIX) for p in files) and len(files) == -(-old // log_archive.BATCH)
    lines = _lines(files)
    assert len(lines) == old and len({line["id"] for line in lines}) == old
    cutoff = now_ms() - 30 * DAY_MS
    assert all(line["created_ms"] < cutoff for line in lines)
    push = next(line for line in lines if line["kind"] == "push_repo" and line["metadata"] == {"n": 7})
    assert push["account"] == "admin" and push["performer"] == "admin" and push["ip"] == "192.0.2.9"
    assert push["datetime"].endswith("+00:00") and push["repository"] is None
    # each file is named after its first entry and holds a run of consecutive ids
    for path, data in files.items():
        ids = [json.loads(line)["id"] for line in gzip.decompress(data).decode().splitlines()]
        assert path == log_archive.archive_path(ids[0]) and ids == sorted(ids)
    # only the young entries are left in the database
    left = await _left(rt)
    assert len(left) == 5 and all(created >= cutoff for _id, created in left)
    assert min(i for i, _ in left) > max(line["id"] for line in lines)

    await _rotate(rt)
    assert await _archives(rt) == files
    assert await _left(rt) == left


async def test_a_rerun_after_a_crash_between_writing_and_deleting_repeats_nothing(wharf: WharfApp) -> None:
    rt = wharf.rt
    old = await _seed(rt, 2_500, 1)
    cutoff = now_ms() - 30 * DAY_MS
    # The run that crashed had written a batch's file (a smaller batch than a full one) and died
    # before deleting its rows; an older crash had left a half-written file for that batch.
    batch = await rt.db.read(log_archive.next_batch, cutoff, 300)
    assert batch is not None and len(batch.lines) == 300
    crashed = await log_archive.write_batch(rt.store, batch)
    half = f"{crashed}.partial"
    await rt.store.put_bytes(half, b"\x1f\x8b half a file")
    assert len(await _left(rt)) == old + 1

    await _rotate(rt)
    files = await _archives(rt)
    assert crashed in files and half not in files
    lines = _lines(files)
    ids = [line["id"] for line in lines]
    assert len(ids) == old and len(set(ids)) == old  # every old entry once
    first = [json.loads(x) for x in gzip.decompress(files[crashed]).decode().splitlines()]
    assert len(first) == log_archive.BATCH  # the crashed batch's file was replaced by a full one
    assert len(await _left(rt)) == 1


async def test_the_newest_entry_stays_and_the_feature_switch_is_obeyed(
    wharf: WharfApp, settings: Settings
) -> None:
    rt = wharf.rt
    await _seed(rt, 10, 0)
    newest = max(i for i, _ in await _left(rt))
    off = build_app(
        load_settings(
            None, _config(settings.DATA_DIR, settings.DB_URI, FEATURE_ACTION_LOG_ROTATION=False), environ={}
        ),
        run_workers=False,
    )
    try:
        assert "log_rotation" not in runner.periodic(off.rt)
        await log_export.rotate_logs(off.rt, {})
        assert await _archives(rt) == {}
    finally:
        await off.rt.close()

    done = await log_archive.rotate(rt.db, rt.store, now_ms() + 1)  # everything is old
    assert [i for i, _ in await _left(rt)] == [newest]
    assert done.entries == len(_lines(await _archives(rt)))
    # so a new entry never reuses an archived id, even on SQLite
    await rt.db.write(
        lambda db: db.execute(insert(LogEntry).values(kind="x", created_ms=now_ms(), metadata_json="{}"))
    )
    assert max(i for i, _ in await _left(rt)) > newest

"""core.builds on the real database: a requested build is recorded, queued for the builders only,
logged and announced in one transaction; its phases, log, cancellation and the stale claim of a
builder that died."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from wharf.core import accounts, audit, builds, notifications, queue, repositories, user_files
from wharf.core.builds import BuildRecord, BuildRequest
from wharf.core.errors import Conflict
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db
from wharf.db.models import Job

BOX = SecretBox("test")
ACTOR = audit.Actor(None, "admin", origin="https://wharf.example.com")


def _repo(db: Database) -> RepositoryRecord:
    def make(c: Db) -> RepositoryRecord:
        repo = repositories.create(c, "admin", "app", visibility="private", actor=None)
        namespace = accounts.get_by_name(c, "admin")
        assert namespace is not None
        for event in ("build_queued", "build_start", "build_success", "build_failure", "build_cancelled"):
            notifications.set_up(
                c, BOX, namespace, repo, event, "webhook", {"url": "http://x"}, {}, None, None
            )
        return repo

    return db.run_write(make)


def _request(**extra: Any) -> BuildRequest:
    values: dict[str, Any] = {
        "display_name": "abc1234",
        "docker_tags": ["latest", "v1"],
        "dockerfile_path": "Dockerfile",
        "context": "",
        "subdirectory": "",
        "resource_key": None,
        "archive_url": "https://example.com/app.tar.gz",
    }
    values.update(extra)
    return BuildRequest(**values)


def _jobs(db: Database) -> list[tuple[str, dict[str, Any]]]:
    def read(c: Db) -> list[tuple[str, dict[str, Any]]]:
        return [
            (r.queue, json.loads(r.body)) for r in c.execute(select(Job.queue, Job.body).order_by(Job.id))
        ]

    return db.run_read(read)


def _events(db: Database) -> list[str]:
    return [body["event"] for q, body in _jobs(db) if q == notifications.QUEUE]


def _create(db: Database, repo: RepositoryRecord) -> BuildRecord:
    return db.run_write(builds.create, repo, _request(), ACTOR)


def test_a_request_is_recorded_queued_logged_and_announced(
    db: Database, audit_kinds: Callable[[], list[str]]
) -> None:
    repo = _repo(db)
    build = _create(db, repo)
    assert build.phase == builds.WAITING
    assert build.docker_tags == ["latest", "v1"]
    assert build.manual_user == "admin"
    assert build.full_name == "admin/app"
    assert audit_kinds()[-1] == "build_dockerfile"
    jobs = _jobs(db)
    assert (builds.QUEUE, {"build_id": build.id, "origin": "https://wharf.example.com"}) in jobs
    assert _events(db) == ["build_queued"]
    queued = next(b for q, b in jobs if q == notifications.QUEUE)["event_data"]
    assert queued["build_id"] == build.uuid
    assert queued["docker_tags"] == ["latest", "v1"]
    assert queued["is_manual"] is True
    assert db.run_read(builds.read_logs, build.id, 0) == (
        1,
        [{"message": "waiting", "type": "phase", "data": {"datetime": pytest.approx(build.created_ms)}}],
    )
    assert db.run_read(builds.list_for, repo.id, 5) == [build]
    assert db.run_read(builds.get_in, repo.id + 1, build.uuid) is None


def test_the_build_queue_is_not_a_normal_workers_queue(db: Database) -> None:
    from wharf.jobs.runner import HANDLERS

    assert builds.QUEUE not in HANDLERS
    build = _create(db, _repo(db))
    claimed = db.run_write(queue.claim_at, list(HANDLERS), 10**15)
    while claimed is not None:  # the notification deliveries, never the build
        assert claimed.queue != builds.QUEUE
        db.run_write(queue.complete_claim, claimed)
        claimed = db.run_write(queue.claim_at, list(HANDLERS), 10**15)
    build_job = db.run_write(queue.claim_at, [builds.QUEUE], 10**15)
    assert build_job is not None and build_job.body["build_id"] == build.id


def test_phases_logs_and_success(db: Database) -> None:
    repo = _repo(db)
    build = _create(db, repo)
    started = db.run_write(builds.start, build.id, None)
    assert started is not None and started.phase == builds.SCHEDULED and started.started_ms is not None
    assert db.run_write(builds.set_phase, build.id, builds.BUILDING)
    total = db.run_write(
        builds.append_logs,
        build.id,
        [(builds.COMMAND_LOG, "buildah bud", None), ("", "STEP 1/2: FROM x", None)],
    )
    assert total == 5
    assert db.run_write(builds.finish, build.id, builds.COMPLETE, manifest_digest="sha256:" + "a" * 64)
    assert not db.run_write(builds.set_phase, build.id, builds.PUSHING)  # finished: no more phases
    assert not db.run_write(builds.finish, build.id, builds.ERROR)
    done = db.run_read(builds.get, build.uuid)
    assert done is not None and done.phase == builds.COMPLETE and done.manifest_digest == "sha256:" + "a" * 64
    total, entries = db.run_read(builds.read_logs, build.id, 3)
    assert total == 6
    assert [(e.get("type"), e["message"]) for e in entries] == [
        ("command", "buildah bud"),
        (None, "STEP 1/2: FROM x"),
        ("phase", "complete"),
    ]
    assert _events(db) == ["build_queued", "build_start", "build_success"]
    assert db.run_write(builds.start, build.id, None) is None  # finished: nothing to run


def test_failure_carries_its_error(db: Database) -> None:
    build = _create(db, _repo(db))
    db.run_write(builds.start, build.id, None)
    db.run_write(builds.finish, build.id, builds.ERROR, error="RUN exited 1")
    jobs = [b for q, b in _jobs(db) if q == notifications.QUEUE]
    assert jobs[-1]["event"] == "build_failure"
    assert jobs[-1]["event_data"]["error_message"] == "RUN exited 1"
    with pytest.raises(ValueError):
        db.run_write(builds.finish, build.id, builds.BUILDING)


def test_cancel_waiting_at_once_running_by_request(
    db: Database, audit_kinds: Callable[[], list[str]]
) -> None:
    repo = _repo(db)
    waiting = _create(db, repo)
    cancelled = db.run_write(builds.cancel, waiting, repo, ACTOR)
    assert cancelled.phase == builds.CANCELLED and cancelled.cancel_requested
    assert audit_kinds()[-1] == "cancel_build"
    assert db.run_write(builds.start, waiting.id, None) is None  # the builder runs nothing
    with pytest.raises(Conflict):
        db.run_write(builds.cancel, waiting, repo, ACTOR)

    running = _create(db, repo)
    db.run_write(builds.start, running.id, None)
    asked = db.run_write(builds.cancel, running, repo, ACTOR)
    assert asked.phase == builds.SCHEDULED  # its builder finishes it
    assert db.run_read(builds.cancel_requested, running.id)
    db.run_write(builds.finish, running.id, builds.CANCELLED)
    assert _events(db).count("build_cancelled") == 2


def test_a_build_whose_builder_died_runs_again_then_fails(db: Database) -> None:
    build = _create(db, _repo(db))
    first = db.run_write(builds.start, build.id, None)
    assert first is not None and first.attempts == 1
    # the lease ran out and the job was claimed again: the first run is marked, a second starts
    second = db.run_write(builds.start, build.id, None)
    assert second is not None and second.attempts == 2 and second.phase == builds.SCHEDULED
    assert not second.terminal and second.error is None
    _, entries = db.run_read(builds.read_logs, build.id, 0)
    phases = [e["message"] for e in entries if e.get("type") == "phase"]
    assert phases == [builds.WAITING, builds.SCHEDULED, builds.INTERNAL_ERROR, builds.SCHEDULED]
    errors = [e["message"] for e in entries if e.get("type") == "error"]
    assert errors == [
        "The builder running this build stopped before it finished (attempt 1 of 3): it will run again"
    ]
    # the first builder, back from a stall, moves nothing of the second run
    assert not db.run_write(builds.set_phase, build.id, builds.PUSHING, first.attempts)
    assert not db.run_write(builds.finish, build.id, builds.COMPLETE, attempt=first.attempts)
    assert db.run_write(builds.start, build.id, None) is not None  # the third and last
    assert db.run_write(builds.start, build.id, None) is None
    found = db.run_read(builds.get, build.uuid)
    assert found is not None and found.phase == builds.EXPIRED and found.terminal  # no run left, as Quay
    assert found.error == "The builder running this build stopped"
    assert _events(db).count("build_start") == 3 and _events(db)[-1] == "build_failure"


def test_one_attempt_fails_at_the_first_death(db: Database) -> None:
    build = _create(db, _repo(db))
    assert db.run_write(builds.start, build.id, None, 1) is not None
    assert db.run_write(builds.start, build.id, None, 1) is None
    found = db.run_read(builds.get, build.uuid)
    assert found is not None and found.phase == builds.EXPIRED and found.terminal  # no run left, as Quay


def test_the_sweep_marks_a_build_whose_lease_ran_out(db: Database) -> None:
    repo = _repo(db)
    build = _create(db, repo)
    claimed_at = 10**15
    job = db.run_write(queue.claim_at, [builds.QUEUE], claimed_at, 60_000)
    assert job is not None and job.body["build_id"] == build.id
    db.run_write(builds.start, build.id, None)
    assert db.run_write(builds.sweep_interrupted, claimed_at + 60_000, 3) == []  # still leased
    assert db.run_write(builds.sweep_interrupted, claimed_at + 60_001, 3) == [build.uuid]
    found = db.run_read(builds.get, build.uuid)
    assert found is not None and found.phase == builds.INTERNAL_ERROR and not found.terminal
    assert db.run_write(builds.sweep_interrupted, claimed_at + 60_001, 3) == []  # marked once
    # waiting for its next run, nothing runs it: a cancel finishes it at once
    cancelled = db.run_write(builds.cancel, found, repo, ACTOR)
    assert cancelled.phase == builds.CANCELLED and cancelled.terminal


def test_a_cancelled_build_whose_builder_died_is_not_run_again(db: Database) -> None:
    repo = _repo(db)
    build = _create(db, repo)
    db.run_write(builds.start, build.id, None)
    db.run_write(builds.cancel, build, repo, ACTOR)  # asked of a builder that dies before it reads it
    assert db.run_write(builds.start, build.id, None) is None
    found = db.run_read(builds.get, build.uuid)
    assert found is not None and found.phase == builds.CANCELLED and found.terminal


def test_the_sweep_fails_a_build_at_its_last_attempt(db: Database) -> None:
    build = _create(db, _repo(db))
    db.run_write(builds.start, build.id, None)
    assert db.run_write(builds.sweep_interrupted, 10**15, 1) == [build.uuid]  # no lease: none held
    found = db.run_read(builds.get, build.uuid)
    assert found is not None and found.phase == builds.EXPIRED and found.terminal  # no run left, as Quay


def test_old_logs_are_pruned(db: Database) -> None:
    build = _create(db, _repo(db))
    db.run_write(builds.start, build.id, None)
    assert db.run_write(builds.prune_logs, 10**15) == 0  # running: kept
    db.run_write(builds.finish, build.id, builds.COMPLETE)
    done = db.run_read(builds.get, build.uuid)
    assert done is not None and done.completed_ms is not None
    assert db.run_write(builds.prune_logs, done.completed_ms) == 0
    assert db.run_write(builds.prune_logs, done.completed_ms + 1) == 3  # waiting, scheduled, complete
    assert db.run_read(builds.read_logs, build.id, 0) == (0, [])


def test_user_files_are_written_once_and_expire(db: Database) -> None:
    admin = db.run_read(accounts.get_by_name, "admin")
    assert admin is not None
    drop = db.run_write(user_files.reserve, admin.id, "application/x-tar", 60_000)
    assert not drop.uploaded
    assert db.run_write(user_files.mark_uploaded, drop.id, 10, "ab" * 32)
    assert not db.run_write(user_files.mark_uploaded, drop.id, 10, "ab" * 32)
    found = db.run_read(user_files.get, drop.id)
    assert found is not None and found.uploaded and found.size == 10
    assert db.run_read(user_files.expired, drop.expires_ms) == []
    assert db.run_read(user_files.expired, drop.expires_ms + 1) == [drop.id]
    db.run_write(user_files.forget, [drop.id])
    assert db.run_read(user_files.get, drop.id) is None

"""`wharf worker` as a process. It stops gracefully on SIGTERM: it claims no further job, lets the
running one finish within WORKER_SHUTDOWN_GRACE_S and exits 0; past the grace the job is cancelled
and its lease given back, so another worker runs it at once instead of after the lease runs out.

The running job is a real one, a webhook delivery, held in flight for as long as a test needs by a
real local HTTP receiver that does not answer until it is told to: no timing guesses. It serves its
job metrics with --metrics-address."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.process.server import wait_until
from tests.receivers import Received, http_receiver
from wharf.config import load_settings
from wharf.core import accounts, notifications, repositories
from wharf.core.bootstrap import ensure_admin
from wharf.core.notifications import NotificationRecord
from wharf.db.engine import Db
from wharf.db.migrate import upgrade
from wharf.db.models import Job
from wharf.jobs.runner import run_once
from wharf.runtime import Runtime

WHARF = Path(sys.executable).parent / "wharf"
WAIT_S = 30


class HeldReceiver:
    """A webhook receiver that holds each request until `release` is set."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.deliveries: list[str] = []  # X-Wharf-Delivery of each request, in order

    def respond(self, got: Received) -> int:
        self.deliveries.append(got.headers["x-wharf-delivery"])
        self.arrived.set()
        self.release.wait(WAIT_S)
        return 200


@pytest.fixture
def held() -> Iterator[tuple[HeldReceiver, str]]:
    receiver = HeldReceiver()
    with http_receiver(receiver.respond) as http:
        try:
            yield receiver, http.url
        finally:
            receiver.release.set()  # lets a held request's thread end, so the server can close


@pytest.fixture
def rt(tmp_path: Path, db_uri: str | None) -> Iterator[Runtime]:
    """The worker's data dir and database, opened in the test process too."""
    overrides: dict[str, Any] = {"DATA_DIR": tmp_path / "data", "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]}
    if db_uri:
        overrides["DB_URI"] = db_uri
    settings = load_settings(None, overrides, environ={})
    runtime = Runtime.create(settings)
    upgrade(runtime.db)
    runtime.db.run_write(ensure_admin, "worker-test-pw")
    yield runtime
    asyncio.run(runtime.close())


def _webhook(rt: Runtime, url: str) -> NotificationRecord:
    admin = rt.db.run_read(accounts.get_by_name, "admin")
    assert admin is not None
    repo = rt.db.run_write(repositories.create, "admin", "hooks", visibility="private", actor=None)
    config = {"url": f"{url}/hook"}
    return rt.db.run_write(
        notifications.create, rt.secrets, admin, repo, "repo_push", "webhook", config, {}, None, None
    )


def _deliveries(rt: Runtime, n: NotificationRecord, count: int) -> None:
    for i in range(count):
        rt.db.run_write(notifications.enqueue_delivery, n.uuid, "repo_push", {"n": i}, None)


def _queued(rt: Runtime) -> list[Any]:
    """The notification jobs left in the queue (the worker also schedules its periodic jobs)."""

    def rows(db: Db) -> list[Any]:
        columns = (Job.body, Job.lease_until_ms, Job.available_after_ms, Job.retries_remaining)
        query = select(*columns).where(Job.queue == notifications.QUEUE).order_by(Job.id)
        return list(db.execute(query).all())

    return rt.db.run_read(rows)


@pytest.fixture
def start_worker(rt: Runtime) -> Iterator[Callable[[int], tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(grace_s: int, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
        env["WHARF_SSRF_ALLOWED_HOSTS"] = '["127.0.0.1"]'
        env["WHARF_NOTIFICATION_SEND_TIMEOUT"] = str(WAIT_S * 2)  # the receiver holds; no timeout
        env["WHARF_WORKER_SHUTDOWN_GRACE_S"] = str(grace_s)
        if rt.settings.DB_URI:
            env["WHARF_DB_URI"] = rt.settings.DB_URI
        log = rt.settings.DATA_DIR.parent / "worker.log"
        cmd = [str(WHARF), "worker", "--data-dir", str(rt.settings.DATA_DIR), "--log-level", "info", *args]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        started.append(proc)
        return proc, log

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_sigterm_lets_the_running_job_finish_claims_no_more_and_exits_0(
    rt: Runtime, held: tuple[HeldReceiver, str], start_worker: Callable[[int], Any]
) -> None:
    receiver, url = held
    hook = _webhook(rt, url)
    _deliveries(rt, hook, 2)
    first, second = (row.body for row in _queued(rt))
    proc, log = start_worker(60)

    wait_until(receiver.arrived.is_set, "the worker to start delivering the first webhook", timeout_s=WAIT_S)
    os.kill(proc.pid, signal.SIGTERM)
    wait_until(
        lambda: "received SIGTERM" in log.read_text(), "the worker to log the signal", timeout_s=WAIT_S
    )
    assert proc.poll() is None, "the worker exited with a job running"
    receiver.release.set()

    assert proc.wait(WAIT_S) == 0, log.read_text()[-3000:]
    # The running job finished: delivered, its outcome recorded, its row gone.
    assert len(receiver.deliveries) == 1 and receiver.deliveries[0] in first
    assert [a.ok for a in rt.db.run_read(notifications.attempts, hook.id)] == [True]
    # The other was never claimed: still queued, unleased.
    left = _queued(rt)
    assert [row.body for row in left] == [second]
    assert left[0].lease_until_ms is None
    assert "worker stopped" in log.read_text()


def test_sigterm_past_the_grace_cancels_the_job_and_releases_its_lease(
    rt: Runtime, held: tuple[HeldReceiver, str], start_worker: Callable[[int], Any]
) -> None:
    receiver, url = held
    hook = _webhook(rt, url)
    _deliveries(rt, hook, 1)
    proc, log = start_worker(1)

    wait_until(receiver.arrived.is_set, "the worker to start delivering the webhook", timeout_s=WAIT_S)
    os.kill(proc.pid, signal.SIGTERM)
    # The receiver still holds the request: the worker gives up on it after the grace.
    assert proc.wait(WAIT_S) == 0, log.read_text()[-3000:]
    assert not receiver.release.is_set()
    text = log.read_text()
    assert "was interrupted; released for another worker" in text
    assert "was cancelled and released" in text

    # Released rather than left leased for five minutes, and not counted as a failure.
    [job] = _queued(rt)
    assert job.lease_until_ms is None
    assert job.retries_remaining == 5
    assert rt.db.run_read(notifications.attempts, hook.id) == []

    # So another worker runs it at once.
    receiver.release.set()
    assert asyncio.run(run_once(rt)) is True
    assert len(receiver.deliveries) == 2 and receiver.deliveries[0] == receiver.deliveries[1]
    assert [a.ok for a in rt.db.run_read(notifications.attempts, hook.id)] == [True]
    assert _queued(rt) == []


def test_a_second_sigterm_exits_at_once(
    rt: Runtime, held: tuple[HeldReceiver, str], start_worker: Callable[[int], Any]
) -> None:
    receiver, url = held
    _deliveries(rt, _webhook(rt, url), 1)
    proc, log = start_worker(60)

    wait_until(receiver.arrived.is_set, "the worker to start delivering the webhook", timeout_s=WAIT_S)
    os.kill(proc.pid, signal.SIGTERM)
    wait_until(
        lambda: "received SIGTERM" in log.read_text(), "the worker to log the signal", timeout_s=WAIT_S
    )
    os.kill(proc.pid, signal.SIGTERM)
    # Well within the 60 s grace, with the job still held.
    assert proc.wait(WAIT_S) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    assert not receiver.release.is_set()
    assert "received SIGTERM again: exiting now" in log.read_text()


def test_the_worker_serves_its_job_metrics(rt: Runtime, start_worker: Callable[..., Any]) -> None:
    with http_receiver() as http:
        hook = _webhook(rt, http.url)
        _deliveries(rt, hook, 1)
        proc, log = start_worker(5, "--metrics-address", "127.0.0.1:0")
        wait_until(lambda: http.requests, "the worker to deliver the webhook", timeout_s=WAIT_S)
    found = re.search(r"metrics at (http://\S+/metrics)", log.read_text())
    assert found, log.read_text()[-2000:]
    counted = 'wharf_job_duration_seconds_count{outcome="done",queue="notification"} 1.0'
    wait_until(lambda: counted in httpx.get(found[1], timeout=WAIT_S).text, "the job to be counted")
    assert httpx.get(found[1].replace("/metrics", "/"), timeout=WAIT_S).status_code == 404
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(WAIT_S) == 0


def test_a_bad_metrics_address_is_refused(rt: Runtime) -> None:
    cmd = [str(WHARF), "worker", "--data-dir", str(rt.settings.DATA_DIR), "--metrics-address", "9102"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    if rt.settings.DB_URI:
        env["WHARF_DB_URI"] = rt.settings.DB_URI
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 1
    assert "cannot serve metrics at 9102" in done.stderr and "hint: give a free HOST:PORT" in done.stderr

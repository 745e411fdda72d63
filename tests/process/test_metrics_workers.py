"""/metrics of `wharf serve --workers 2` counts the requests of both server processes, whichever
of them answers the scrape (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest, multiprocess

from tests.process.server import WharfServer, wait_until

SERIES = 'wharf_http_requests_total{method="GET",route="v2_base",status="401"}'


def _value(exposition: str, series: str = SERIES) -> float:
    for line in exposition.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return 0.0


def _per_process(metrics_dir: Path, scratch: Path) -> dict[str, float]:
    """The series as each server process counted it, from its own file in the shared directory."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        alone = scratch / path.stem
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(alone))  # type: ignore[no-untyped-call]
        counts[path.stem] = _value(generate_latest(registry).decode())
    return counts


def _spread_requests(url: str, count: int) -> None:
    """`count` requests, each on a connection of its own and several at a time, so that both
    processes accept some."""

    def one(_i: int) -> None:
        assert httpx.get(f"{url}/v2/", timeout=30).status_code == 401

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def test_two_workers_report_every_request(tmp_path: Path, db_uri: str | None) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier start")  # must be cleared
    server = WharfServer(tmp_path / "data", "process-test-pw", db_uri=db_uri)
    server.start(workers=2, timeout=120, extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    try:
        sent = 0
        scratch = tmp_path / "scratch"
        scratch.mkdir()

        def both_served() -> bool:
            nonlocal sent
            _spread_requests(server.url, 20)
            sent += 20
            return len([n for n in _per_process(metrics_dir, scratch).values() if n > 0]) == 2

        wait_until(both_served, "requests reaching both server processes", timeout_s=120)
        assert sum(_per_process(metrics_dir, scratch).values()) == sent
        # Each scrape is a new connection, so several of them reach both processes: every one
        # reports all the requests.
        seen = [_value(httpx.get(f"{server.url}/metrics", timeout=30).text) for _ in range(10)]
        assert seen == [sent] * 10
    finally:
        server.stop()
    assert not (metrics_dir / "counter_999999.db").exists()


def test_one_process_keeps_metrics_in_memory(server: WharfServer) -> None:
    _spread_requests(server.url, 5)
    assert _value(httpx.get(f"{server.url}/metrics", timeout=30).text) == 5


def test_two_workers_without_a_configured_directory(tmp_path: Path, db_uri: str | None) -> None:
    """`serve` makes the directory itself (and removes it at exit)."""
    server = WharfServer(tmp_path / "data", "process-test-pw", db_uri=db_uri)
    server.start(workers=2, timeout=120)
    try:
        _spread_requests(server.url, 40)
        seen = [_value(httpx.get(f"{server.url}/metrics", timeout=30).text) for _ in range(10)]
        assert seen == [40] * 10
    finally:
        server.stop()

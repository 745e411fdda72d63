"""Prometheus metrics, served at /metrics.

Counters and histograms count what this node did. With `wharf serve --workers N` the N server
processes share them through prometheus_client's multiprocess mode: `serve` gives them a fresh
PROMETHEUS_MULTIPROC_DIR (each process writes its values to files there, and whichever process
answers a scrape adds up all the files), so /metrics shows the node's totals whichever worker
answers. One process keeps them in memory. Queue depth and open uploads are read from the database
at each scrape, so every node reports the cluster's figure; they are not kept in any process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

# prometheus_client reads it when imported: set by `serve` (prepare_multiprocess_dir) before it
# starts the server processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "wharf_http_requests",
    "HTTP requests by method, route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "wharf_http_request_duration_seconds",
    "HTTP request latency by method and route (until the response is fully sent)",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
BYTES_IN = Counter("wharf_http_received_bytes", "Request body bytes received", ["route"], registry=REGISTRY)
BYTES_OUT = Counter("wharf_http_sent_bytes", "Response body bytes sent", ["route"], registry=REGISTRY)
JOB_SECONDS = Histogram(
    "wharf_job_duration_seconds",
    "Background job run time by queue and outcome",
    ["queue", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800),
    registry=REGISTRY,
)

GC_RUNS = Counter("wharf_gc_runs", "Garbage collection runs completed", registry=REGISTRY)
GC_DURATION = Histogram(
    "wharf_gc_duration_seconds",
    "How long a garbage collection run took",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800),
    registry=REGISTRY,
)
GC_REMOVED = Counter(
    "wharf_gc_removed", "What garbage collection removed, by kind of object", ["object"], registry=REGISTRY
)
GC_BYTES_FREED = Counter(
    "wharf_gc_freed_bytes",
    "Storage bytes garbage collection freed (blobs and orphan files)",
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir() -> Path | None:
    """A new, empty directory for the metric files of one `wharf serve` start, named in the
    environment its server processes inherit; returned, to be removed at exit. A directory an
    operator set is emptied instead (files left by an earlier start would be counted again),
    except this process's own files, already open when the operator set it; then None."""
    configured = multiprocess_dir()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        mine = f"_{os.getpid()}.db"
        for old in path.glob("*.db"):
            if not old.name.endswith(mine):
                old.unlink()
        return None
    path = Path(tempfile.mkdtemp(prefix="wharf-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path) -> None:
    """After the server processes have exited: the directory `prepare_multiprocess_dir` made."""
    shutil.rmtree(path, ignore_errors=True)


def process_exited() -> None:
    """Called as a server process stops: drops its share of live gauges (there are none today;
    counters keep counting what the process did)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def exposition(queue_depth: Mapping[str, int] | None = None, open_uploads: int | None = None) -> bytes:
    """The text exposition: this node's counters (every server process's, in multiprocess mode)
    and the cluster gauges when the database answered."""
    if multiprocess_dir():
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        out = generate_latest(combined)
    else:
        out = generate_latest(REGISTRY)
    if queue_depth is None or open_uploads is None:
        return out
    cluster = CollectorRegistry()
    depth = Gauge("wharf_queue_depth", "Jobs waiting or running, by queue", ["queue"], registry=cluster)
    for name, count in queue_depth.items():
        depth.labels(name).set(count)
    uploads = Gauge("wharf_open_uploads", "Blob uploads started and not yet finished", registry=cluster)
    uploads.set(open_uploads)
    return out + generate_latest(cluster)


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "only /metrics is served here")
            return
        body = exposition()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every few seconds is not worth a log line


def serve_in_background(address: str) -> ThreadingHTTPServer:
    """`HOST:PORT` serving this process's counters at /metrics from a daemon thread: `wharf worker`
    and `wharf builder` have no HTTP server of their own. Port 0 takes a free one (see
    `server_address`). The cluster gauges are left to `wharf serve`, which reads them from the
    database at each scrape."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{address!r} is not HOST:PORT")
    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), _MetricsHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server

"""Prometheus metrics, served at /metrics.

Counters and histograms are per process: with `--workers N` each server process has its own, and
Prometheus sums them over the scrape targets. Queue depth and open uploads are read from the
database when /metrics is scraped, so every node reports the cluster's figure.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
QUEUE_DEPTH = Gauge("wharf_queue_depth", "Jobs waiting or running, by queue", ["queue"], registry=REGISTRY)
OPEN_UPLOADS = Gauge("wharf_open_uploads", "Blob uploads started and not yet finished", registry=REGISTRY)

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


def exposition() -> bytes:
    return generate_latest(REGISTRY)

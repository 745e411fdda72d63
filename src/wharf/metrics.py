"""Prometheus metrics, served at /metrics. Issue 6 adds request, upload and queue metrics here."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

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
GC_BYTES_FREED = Counter("wharf_gc_freed_bytes", "Blob bytes garbage collection freed", registry=REGISTRY)


def exposition() -> bytes:
    return generate_latest(REGISTRY)

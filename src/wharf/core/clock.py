"""The domain's clock: every "now" of the domain (tag lifetimes, expirations, leases, audit
timestamps) reads `now_ms()`.

It is also the tests' seam: a test that needs time to pass (a tag expiring, a lease running
out) moves this clock forward with `advance` instead of sleeping (the `clock` fixture in
tests/conftest.py); `reset` puts it back. The offset is a process-wide integer read on each call,
zero outside tests."""

import time

_offset_ms = 0


def now_ms() -> int:
    return time.time_ns() // 1_000_000 + _offset_ms


def advance(seconds: float) -> None:
    """Move the clock `seconds` forward (tests only)."""
    global _offset_ms
    _offset_ms += round(seconds * 1000)


def reset() -> None:
    """Back to the machine's clock (tests only)."""
    global _offset_ms
    _offset_ms = 0

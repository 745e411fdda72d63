"""The one way a test waits for something: poll a condition until it holds, with a deadline.

The deadline is generous on purpose: it bounds a broken test and never paces a working one, so a
slow or busy machine makes a test slower, never red. A test that needs time itself to pass (a tag
expiring, a grace period ending) moves the clock instead (the `clock` fixture, tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout_s: float = 60, interval_s: float = 0.05) -> T:
    """Call `check` until it returns something truthy and return that; after `timeout_s`, fail
    the test saying what it waited for."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


async def wait_until_async(
    check: Callable[[], Awaitable[T]], what: str, timeout_s: float = 60, interval_s: float = 0.05
) -> T:
    """`wait_until` for a coroutine check, yielding to the event loop between tries."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)

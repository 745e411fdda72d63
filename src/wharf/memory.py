"""How a Wharf process asks the C allocator to give memory back (glibc only; elsewhere a no-op).

glibc serves an allocation of at least M_MMAP_THRESHOLD bytes with its own mmap, returned to the
system when freed. The threshold starts at 128 KiB but moves up to the size of each such block
freed, so the second argon2 verification's 19 MiB buffer comes from the heap instead and, freed,
stays there: every thread that verified a password kept ~19 MiB resident for good. A fixed
threshold ends that (and fixing it also keeps the trim threshold where we set it):

- 4 MiB: blob-sized buffers (up to a few MiB) are reused from the heap as before; argon2's
  buffers and anything larger are mapped and unmapped.
- trim at 8 MiB: what the moving thresholds settle at for such buffers, so freeing one does not
  shrink and regrow the heap on every chunk.

It also caps the number of malloc arenas at 2. glibc gives each thread that finds the arenas
busy one of its own, up to 8 per core, and each arena keeps its freed memory. A burst of logins
or pulls runs many threads at once (the database's, argon2's, the event loop's): a server that
had served such a burst settled at ~150 MiB with glibc's default and ~138 MiB with two arenas
(docs/deploy.md). Most allocations happen under the GIL, one thread at a time, so more arenas buy
little.

Set before the process starts threads; `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` and
`MALLOC_ARENA_MAX` in the environment win, as glibc documents. See docs/deploy.md, "Memory".
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Callable

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 8 * 1024 * 1024
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds and its arena count, unless the environment sets
    them; True if done."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and done
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        done = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    if "MALLOC_ARENA_MAX" not in os.environ:
        done = mallopt(_M_ARENA_MAX, ARENA_MAX) == 1 and done
    return done


def trim() -> bool:
    """Give the heap's free memory back to the system (glibc's malloc_trim); True if some was.
    Called once start-up is done: importing and building the application leaves freed blocks that
    nothing reuses while the server idles (~0.4 MiB)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))


class QuietTrim:
    """Gives the heap back once the process has been quiet for `quiet_s` after serving requests.

    Memory freed in the middle of the heap stays resident: glibc returns only the top of the heap
    on its own. A burst of concurrent uploads (64 clients pushing 10 MiB blobs, each holding a few
    body chunks of up to MMAP_THRESHOLD) left ~70 MiB of such free memory in a server that idles at
    ~80 MiB; it was still there when the next burst came, so every peak stood on it
    (docs/performance.md). malloc_trim(0) returns those free pages too (MADV_DONTNEED).

    It runs only after quiet_s without any request starting or ending, once per quiet spell, so a
    busy server never pays for it, and in a thread: the trim walks the heap under the allocator's
    locks and gives the pages back one range at a time (~15 ms for 80 MiB of free heap, ~300 ms for
    1.5 GiB), during which the event loop keeps serving (ctypes releases the GIL)."""

    def __init__(self, quiet_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s = quiet_s
        self._clock = clock
        self.active = 0
        self._last = clock()
        self._served = False
        self.trims = 0
        """Trims done (for tests)."""

    def started(self) -> None:
        self.active += 1
        self._served = True
        self._last = self._clock()

    def finished(self) -> None:
        self.active -= 1
        self._last = self._clock()

    def due(self) -> bool:
        """Whether to trim now: requests were served since the last trim and none has started or
        ended for quiet_s."""
        return self._served and self.active == 0 and self._clock() - self._last >= self.quiet_s

    def take(self) -> bool:
        """Whether to trim now (`due`); a True starts a new quiet spell, so that one trim is done
        per spell."""
        if not self.due():
            return False
        self._served = False
        self.trims += 1
        return True

    async def run(self) -> None:
        """Check every quiet_s / 2 until cancelled."""
        while True:
            await asyncio.sleep(self.quiet_s / 2)
            if self.take():
                await asyncio.to_thread(trim)

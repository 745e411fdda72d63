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

import ctypes
import ctypes.util
import os
import sys

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

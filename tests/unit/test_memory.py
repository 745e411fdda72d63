"""wharf.memory: the glibc tuning a server process applies when it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Threads that call malloc through ctypes (which releases the GIL) at the same time, so glibc
# gives them arenas of their own unless capped; then glibc's own statistics list the arenas.
_PROGRAM = textwrap.dedent(
    """
    import ctypes, threading
    from wharf.memory import tune_malloc
    print(tune_malloc())
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    start = threading.Barrier(16)
    def allocate():
        start.wait()
        blocks = [libc.malloc(1024) for _ in range(20000)]
        for b in blocks:
            libc.free(b)
    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc.malloc_stats()
    """
)


def _arenas(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip(), sum(1 for line in out.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning")
def test_a_server_process_uses_at_most_two_malloc_arenas() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done, arenas = _arenas(env)
    assert done == "True"
    assert 1 <= arenas <= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning")
def test_malloc_arena_max_in_the_environment_wins() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done, arenas = _arenas({**env, "MALLOC_ARENA_MAX": "1"})
    assert done == "True"
    assert arenas == 1

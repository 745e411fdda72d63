"""wharf.memory: the glibc tuning a server process applies when it starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from tests.waiting import wait_until_async
from wharf.memory import QuietTrim

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


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_heap_is_trimmed_once_per_quiet_spell_after_requests() -> None:
    clock = _Clock()
    quiet = QuietTrim(quiet_s=2.0, clock=clock)
    clock.now += 10
    assert not quiet.take()  # nothing served since start-up: nothing to give back
    quiet.started()
    clock.now += 5
    assert not quiet.take()  # a request still running, however long
    quiet.finished()
    clock.now += 1.9
    assert not quiet.take()  # not quiet long enough
    clock.now += 0.1
    assert quiet.take()
    clock.now += 10
    assert not quiet.take()  # once per spell
    quiet.started()
    quiet.finished()
    clock.now += 2
    assert quiet.take() and quiet.trims == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning")
async def test_the_trimming_task_trims_in_a_thread_when_due() -> None:
    quiet = QuietTrim(quiet_s=0.02)
    quiet.started()
    quiet.finished()
    task = asyncio.create_task(quiet.run())

    async def trimmed() -> bool:
        return quiet.trims == 1

    try:
        await wait_until_async(trimmed, "a trim")
    finally:
        task.cancel()

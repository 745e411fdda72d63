"""Measurement plumbing: CPU accounting windows, random blobs, and the curl and wrk drivers."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bench.servers import Server

MiB = 1024 * 1024
TOOL_TIMEOUT = 1800  # seconds; no single curl or wrk call in the benchmark comes near it


def own_cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (curl, wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq)


@dataclass
class Sample:
    """One timed measurement and where the CPU went while it ran."""

    value: float | None  # the figure, or None when the server cannot do what was asked
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)

    def cores(self, cpu: float) -> float:
        return cpu / self.wall if self.wall else 0.0


class Window:
    """`with Window(server) as w:` times a block and splits the machine's CPU during it three ways:
    the server under test, this client (with its curl/wrk children), and everything else."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sample = Sample(None)

    def __enter__(self) -> Window:
        self._server0 = self.server.cpu_seconds()
        self._client0 = own_cpu()
        self._busy0 = machine_busy()
        self.started = self._t0 = time.perf_counter()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        s = self.sample
        s.wall = time.perf_counter() - self._t0
        s.server_cpu = self.server.cpu_seconds() - self._server0
        s.client_cpu = own_cpu() - self._client0
        s.other_cpu = max(0.0, machine_busy() - self._busy0 - s.server_cpu - s.client_cpu)

    @property
    def wall(self) -> float:
        return self.sample.wall

    def result(self, value: float | None, **notes: str) -> Sample:
        self.sample.value = value
        self.sample.notes.update(notes)
        return self.sample


class RandomSource:
    """Incompressible bytes, fast: AES-256-CTR over zeros (about 2.5 GiB/s; os.urandom is ~170 MiB/s)."""

    def __init__(self) -> None:
        self._enc = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor()

    def bytes(self, n: int) -> bytes:
        return self._enc.update(bytes(n))

    def file(self, path: Path, size: int) -> str:
        """Write `size` random bytes to `path`; return their digest."""
        h = hashlib.sha256()
        with path.open("wb") as f:
            left = size
            while left:
                block = self.bytes(min(left, 8 * MiB))
                f.write(block)
                h.update(block)
                left -= len(block)
        return "sha256:" + h.hexdigest()


def header_args(headers: dict[str, str]) -> list[str]:
    return [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]


def curl(args: list[str]) -> list[str]:
    """Run curl; return its -w output split in lines. Fails loudly on any transport error."""
    out = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"curl failed ({out.returncode}): {out.stderr.strip()} {out.stdout[-500:]}")
    return out.stdout.splitlines()


@dataclass
class WrkResult:
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(text)
    return float(m[1]) * _UNITS[m[2]]


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    headers: dict[str, str],
    script: Path | None = None,
    threads: int = 1,
) -> WrkResult:
    """Closed-loop load from Debian's wrk: `connections` keep-alive connections for `seconds`.

    Any non-2xx answer or socket error fails the run rather than flattering the figure.
    """
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-T30s", "--latency"]
    cmd += header_args(headers)
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 120, check=True
    ).stdout
    done = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if bad or not (done and rate and p50 and p99):
        raise RuntimeError(f"wrk saw errors or printed something unexpected:\n{out}")
    return WrkResult(int(done[1]), float(rate[1]), _ms(p50[1]), _ms(p99[1]))

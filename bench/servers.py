"""Start CNCF distribution and Wharf on loopback, and account for their process trees."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

WHARF = Path(sys.executable).parent / "wharf"
ADMIN_PASSWORD = "bench-" + secrets.token_hex(8)
SAMPLE_EVERY = 0.1  # seconds between RSS samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def taskset(cpus: set[int] | None) -> list[str]:
    """A command prefix that pins what follows to `cpus` (nothing when None)."""
    if cpus is None:
        return []
    if shutil.which("taskset") is None:
        raise SystemExit("--pin needs taskset (apt-get install util-linux)")
    return ["taskset", "-c", ",".join(map(str, sorted(cpus)))]


@dataclass
class Server:
    """One running registry: its address, its credentials and its process tree's resource use."""

    name: str  # the column label
    kind: str  # "distribution" or "wharf"
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    credentials: tuple[str, str] | None
    peak_rss: int = 0
    peak_processes: int = 0
    cpu_at_ready: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _cache: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tree(self) -> list[psutil.Process]:
        """The server process and its live descendants (uvicorn workers, for example)."""
        try:
            root = self._cache.get(self.proc.pid) or psutil.Process(self.proc.pid)
            self._cache[self.proc.pid] = root
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole tree, including descendants it has already reaped."""
        total = 0.0
        for i, p in enumerate(self.tree()):
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
                if i == 0:
                    total += t.children_user + t.children_system
        return total

    def sample(self) -> None:
        rss = 0
        procs = self.tree()
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                rss += p.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, len(procs))

    def watch(self) -> None:
        """Sample the tree's resident memory every 100 ms until stop()."""

        def loop() -> None:
            while not self._stop.wait(SAMPLE_EVERY):
                self.sample()

        self.sample()
        self.cpu_at_ready = self.cpu_seconds()
        threading.Thread(target=loop, name=f"rss-{self.name}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start_distribution(root: Path, name: str, cpus: set[int] | None) -> Server:
    """CNCF distribution with filesystem storage, no auth, access log off (Wharf logs no requests either).

    The in-memory blob descriptor cache is on, as in Debian's and upstream's sample configuration.
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("CNCF distribution is not installed: apt-get install docker-registry")
    port = free_port()
    work = root / name
    work.mkdir()
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {work / 'data'}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    # distribution reads every REGISTRY_* variable as a configuration override: pass none.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    log = work / "server.log"
    proc = _spawn([*taskset(cpus), binary, "serve", str(config)], env, log)
    server = Server(name, "distribution", port, proc, log, credentials=None)
    try:
        _wait_ready(f"{server.url}/v2/", proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def start_wharf(root: Path, cpus: set[int] | None, workers: int | None) -> Server:
    """`wharf serve` on its defaults (unless --workers is given), warnings-only logging."""
    if not WHARF.exists():
        raise SystemExit(f"{WHARF} not found: install Wharf into this virtualenv first (scripts/venv)")
    port = free_port()
    work = root / "wharf"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHARF_", "REGISTRY_"))}
    env["WHARF_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    cmd = [
        *taskset(cpus),
        str(WHARF),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(work / "data"),
        "--log-level",
        "warning",
        *(["--workers", str(workers)] if workers is not None else []),
    ]
    log = work / "server.log"
    proc = _spawn(cmd, env, log)
    server = Server("wharf", "wharf", port, proc, log, credentials=("admin", ADMIN_PASSWORD))
    try:
        _wait_ready(f"{server.url}/health", proc, log)
    except BaseException:
        server.stop()
        raise
    return server

"""Start Wharf and CNCF distribution side by side, and measure their processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

WHARF = Path(sys.executable).parent / "wharf"
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    needs_auth: bool
    namespace: str
    peak_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    # Cumulative CPU seconds of the services behind the server (its database, its object store),
    # by name, and what they spent while this server was being measured.
    backends: dict[str, Callable[[], float]] = field(default_factory=dict)
    backend_cpu: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def metered(self) -> Iterator[None]:
        """Charge what the backends spend meanwhile to this server: services shared between
        servers (one SeaweedFS) are only told apart because servers are measured one at a time."""
        before = {k: m() for k, m in self.backends.items()}
        try:
            yield
        finally:
            for k, m in self.backends.items():
                self.backend_cpu[k] = self.backend_cpu.get(k, 0.0) + m() - before[k]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss(self) -> int:
        total = 0
        for p in self._tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def pin(self, cpus: set[int] | None) -> None:
        """Run every thread of the server on `cpus`; None lets them run on every CPU again."""
        allowed = cpus or set(range(os.cpu_count() or 1))
        for p in self._tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                for t in p.threads():
                    with contextlib.suppress(ProcessLookupError):
                        os.sched_setaffinity(t.id, allowed)

    def watch_memory(self) -> None:
        def loop() -> None:
            while not self._stop.wait(0.1):
                self.peak_rss = max(self.peak_rss, self.rss())

        threading.Thread(target=loop, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def start_wharf(
    root: Path, workers: int | None, name: str = "wharf", settings: dict[str, str] | None = None
) -> Server:
    """Start Wharf on its defaults, with `settings` (`KEY: value`) passed as WHARF_KEY variables."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env["WHARF_ADMIN_PASSWORD"] = PASSWORD
    env.update({f"WHARF_{k}": v for k, v in (settings or {}).items()})
    log = root / f"{name}.log"
    cmd = [
        str(WHARF),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(root / name),
        "--log-level",
        "warning",
        *(["--workers", str(workers)] if workers is not None else []),
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait(f"http://127.0.0.1:{port}/health", proc, log)
    return Server(name, port, proc, needs_auth=True, namespace="admin")


def start_distribution(
    root: Path, name: str = "distribution", storage: dict[str, Any] | None = None
) -> Server:
    """Start distribution with `storage` as its configuration's storage section (default: the
    filesystem under `root`, deletes enabled)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("CNCF distribution is not installed: apt-get install docker-registry")
    port = free_port()
    config = root / f"{name}.yml"
    if storage is None:
        storage = {"filesystem": {"rootdirectory": str(root / name)}, "delete": {"enabled": True}}
    settings = {
        "version": 0.1,
        "storage": storage,
        "http": {"addr": f"127.0.0.1:{port}"},
        "log": {"level": "error"},
    }
    config.write_text(yaml.safe_dump(settings))
    # distribution reads REGISTRY_* variables as configuration overrides: give it none. Its S3
    # driver also reads AWS_* ones, and panics on an AWS_CA_BUNDLE: the storage section says all.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "AWS_"))}
    log = root / f"{name}.log"
    proc = subprocess.Popen(
        [binary, "serve", str(config)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait(f"http://127.0.0.1:{port}/v2/", proc, log)
    return Server(name, port, proc, needs_auth=False, namespace="bench")

"""Run a real `wharf serve` process for tests that need one (real clients, memory, restarts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

WHARF = Path(sys.executable).parent / "wharf"


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WharfServer:
    def __init__(
        self, data_dir: Path, password: str, port: int | None = None, db_uri: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.password = password
        self.port = port or free_port()
        self.db_uri = db_uri
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"wharf-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(
        self,
        workers: int = 1,
        timeout: float = 30,
        extra_args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        """`settings` are given to the server as WHARF_<KEY> environment variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHARF_", "PROMETHEUS_"))}
        env.update({f"WHARF_{k}": v for k, v in (settings or {}).items()})
        env["WHARF_ADMIN_PASSWORD"] = self.password
        env.update(extra_env or {})
        if self.db_uri:
            env["WHARF_DB_URI"] = self.db_uri
        cmd = [
            str(WHARF),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            *extra_args,  # later options win over the defaults above
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"wharf exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"wharf did not become healthy: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: what a crash or an OOM kill looks like."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def token(self, scope: str, user: str = "admin", password: str | None = None) -> str:
        r = httpx.get(
            f"{self.url}/v2/auth",
            params={"service": self.host, "scope": scope},
            auth=(user, password or self.password),
        )
        r.raise_for_status()
        return str(r.json()["token"])

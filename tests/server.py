"""The one launcher for tests that run real server processes (tests/process, tests/e2e,
tests/conformance): a command started in its own session with its output appended to a log file,
ready when a URL answers 200, stopped with SIGTERM (SIGKILL after a grace period) or killed as a
crash or the OOM killer would. `wharf_serve` builds the `wharf serve` command line and
environment both suites use; tests/process/server.py and tests/e2e/harness.py add what each
suite needs on top."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from tests.waiting import wait_until

WHARF = Path(sys.executable).parent / "wharf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wharf_serve(
    port: int,
    data_dir: Path,
    password: str,
    db_uri: str | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a `wharf serve` on 127.0.0.1:`port`. WHARF_* variables of
    the test run would be read as settings (WHARF_TEST_DB, WHARF_E2E_SERVER...) and PROMETHEUS_*
    would change where metrics live: none is passed on, only `env` (full variable names)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("WHARF_", "PROMETHEUS_"))}
    environ["WHARF_ADMIN_PASSWORD"] = password
    if db_uri:
        environ["WHARF_DB_URI"] = db_uri
    environ.update(env or {})
    cmd = [
        str(WHARF),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        *args,  # later options win over the defaults above
    ]
    return cmd, environ


class ServerProcess:
    """One server process at a time, its output appended to `log_path`; restartable."""

    def __init__(self, log_path: Path, what: str = "wharf") -> None:
        self.log_path = log_path
        self.what = what
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(
        self, cmd: Sequence[str], env: Mapping[str, str], ready_url: str | None, timeout: float = 60
    ) -> None:
        """Start `cmd` and return once `ready_url` answers 200 (at once without one); raise with
        the log's tail when the process exits first or is not ready in `timeout` seconds (then it
        is stopped)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                list(cmd), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = self.proc
        if ready_url is None:
            return

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited with {proc.returncode}:\n{self.log_tail()}")
            try:
                return httpx.get(ready_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(ready, f"{self.what} to answer {ready_url}", timeout_s=timeout, interval_s=0.1)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"{self.what} not ready after {timeout} s:\n{self.log_tail()}") from None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, then SIGKILL if it has not exited in time."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
        self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

"""Run a real `wharf serve` process for tests that need one (real clients, memory, restarts),
through the suite's one launcher (tests/server.py)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server import WHARF, ServerProcess, free_port, wharf_serve
from tests.waiting import wait_until

__all__ = ["WHARF", "WharfServer", "free_port", "wait_until"]


class WharfServer(ServerProcess):
    def __init__(
        self, data_dir: Path, password: str, port: int | None = None, db_uri: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.password = password
        self.port = port or free_port()
        self.db_uri = db_uri
        super().__init__(data_dir.parent / f"wharf-{self.port}.log")

    @property
    def log(self) -> Path:
        return self.log_path

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
        env = {f"WHARF_{k}": v for k, v in (settings or {}).items()}
        env.update(extra_env or {})
        cmd, environ = wharf_serve(
            self.port,
            self.data_dir,
            self.password,
            self.db_uri,
            env,
            ("--workers", str(workers), *extra_args),
        )
        self.launch(cmd, environ, f"{self.url}/health", timeout)

    def token(self, scope: str, user: str = "admin", password: str | None = None) -> str:
        r = httpx.get(
            f"{self.url}/v2/auth",
            params={"service": self.host, "scope": scope},
            auth=(user, password or self.password),
        )
        r.raise_for_status()
        return str(r.json()["token"])

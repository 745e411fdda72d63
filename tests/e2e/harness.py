"""Plumbing for the end-to-end suite: a registry server process and the real container clients.

The server is a real `wharf serve` (the default) or CNCF distribution's `docker-registry` when
WHARF_E2E_SERVER=distribution, which is how the harness itself is checked against a known-good
registry. Client configuration follows shared/reference/clients.md: vfs storage, runc, ulimits and
the registry marked insecure (plain HTTP on 127.0.0.1), all in files under the test's temp dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import WHARF as WHARF  # the tests that run `wharf` commands import it from here
from tests.server import ServerProcess, free_port, wharf_serve
from wharf.core import accounts, tokens
from wharf.core import scopes as oauth_scopes
from wharf.db.engine import Database

SERVER_KIND = os.environ.get("WHARF_E2E_SERVER", "wharf")
ADMIN_USER = "admin"
ADMIN_PASSWORD = "e2e-admin-password"

CLIENT_TOOLS = ("skopeo", "podman", "buildah", "umoci", "runc", "busybox")


def require_tools(*tools: str) -> None:
    """Skip the calling test module, at import time, when the programs it drives are not installed."""
    if any(t in CLIENT_TOOLS for t in tools) and os.geteuid() != 0:
        pytest.skip("e2e clients run as root here (vfs storage, chroot isolation)", allow_module_level=True)
    missing = [t for t in tools if shutil.which(t) is None]
    if SERVER_KIND == "distribution" and shutil.which("docker-registry") is None:
        missing.append("docker-registry")
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (Debian: apt-get install skopeo podman buildah umoci "
            "runc busybox-static, and docker-registry for WHARF_E2E_SERVER=distribution)",
            allow_module_level=True,
        )


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class Server(ServerProcess):
    """One registry process on a fixed port and data dir; restartable after stop() or kill()."""

    def __init__(
        self,
        workdir: Path,
        kind: str = SERVER_KIND,
        db_uri: str | None = None,
        settings_env: dict[str, str] | None = None,
        serve_args: Sequence[str] = (),
    ) -> None:
        if kind not in ("wharf", "distribution"):
            raise ValueError(f"WHARF_E2E_SERVER must be wharf or distribution, not {kind!r}")
        self.kind = kind
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.db_uri = db_uri
        self.settings_env = settings_env or {}
        """WHARF_* settings for a wharf server, e.g. {"WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.1"]'}."""
        self.serve_args = list(serve_args)
        """More `wharf serve` options, e.g. ["--no-workers"]."""
        self.starts = 0
        super().__init__(workdir / f"{kind}.log", kind)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def creds(self) -> str | None:
        """user:password for clients, or None when the server has no authentication."""
        return f"{ADMIN_USER}:{ADMIN_PASSWORD}" if self.kind == "wharf" else None

    @property
    def has_auth(self) -> bool:
        return self.kind == "wharf"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        if self.kind == "wharf":
            return wharf_serve(
                self.port, self.data_dir, ADMIN_PASSWORD, self.db_uri, self.settings_env, self.serve_args
            )
        # distribution reads REGISTRY_* variables as configuration overrides: never pass any.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        config = self.workdir / "distribution.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.data_dir}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.host}\n"
            # a fixed secret keeps upload state tokens valid across a restart
            "  secret: wharf-e2e-upload-state-secret\n"
        )
        return ["docker-registry", "serve", str(config)], env

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self._command()
        self.starts += 1
        ready = "/health" if self.kind == "wharf" else "/v2/"
        self.launch(cmd, env, self.url + ready, timeout)

    def restart(self, crash: bool = False) -> None:
        """Same port, same data dir: stop (or SIGKILL with crash=True), then start again."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start()

    def auth_headers(self, scope: str) -> dict[str, str]:
        """Authorization for `scope`, obtained the way clients do: from the /v2/ challenge."""
        challenge = httpx.get(self.url + "/v2/", timeout=10)
        if challenge.status_code == 200:
            return {}
        assert challenge.status_code == 401, challenge.text
        header = challenge.headers["WWW-Authenticate"]
        assert header.startswith("Bearer "), header
        params = dict(_CHALLENGE_PARAM.findall(header))
        r = httpx.get(
            params["realm"],
            params={"service": params.get("service", ""), "scope": scope},
            auth=(ADMIN_USER, ADMIN_PASSWORD),
            timeout=10,
        )
        assert r.status_code == 200, f"token request: {r.status_code} {r.text}"
        body = r.json()
        return {"Authorization": f"Bearer {body.get('token') or body['access_token']}"}


class Clients:
    """Runs skopeo/podman/buildah/umoci with an environment that points at private config files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.registries: list[str] = []
        root.mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        (root / "containers.conf").write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            f'tmp_dir = "{root}/libpod-tmp"\n'
        )
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/storage/root"\nrunroot = "{root}/storage/run"\n'
        )
        (root / "auth.json").write_text("{}\n")
        self._write_registries()
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REGISTRY_", "CONTAINERS_", "BUILDAH_", "WHARF_"))
        }
        self.env: dict[str, str] = {
            **inherited,
            "CONTAINERS_CONF": str(root / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
            "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "REGISTRY_AUTH_FILE": str(root / "auth.json"),
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": str(root / "tmp"),
        }

    @property
    def auth_file(self) -> Path:
        return self.root / "auth.json"

    def _write_registries(self) -> None:
        text = "unqualified-search-registries = []\n"
        for host in self.registries:
            text += f'\n[[registry]]\nlocation = "{host}"\ninsecure = true\n'
        (self.root / "registries.conf").write_text(text)

    def allow(self, host: str) -> None:
        """Mark a registry insecure (plain HTTP) in registries.conf."""
        if host not in self.registries:
            self.registries.append(host)
            self._write_registries()

    def run(
        self, *args: str, check: bool = True, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                list(args),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                f"{' '.join(args)} timed out after {timeout}s:\n{e.stdout!r}\n{e.stderr!r}"
            ) from e
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def skopeo_raw(self, ref: str, creds: str | None = None) -> bytes:
        """The manifest bytes exactly as stored, from any transport."""
        args = ["skopeo", "inspect", "--raw"]
        if ref.startswith("docker://"):
            args += ["--tls-verify=false", *creds_args(creds)]
        proc = subprocess.run(
            [*args, ref], env=self.env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise AssertionError(f"skopeo inspect --raw {ref} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def skopeo_digest(self, ref: str, creds: str | None = None) -> str:
        return sha256_digest(self.skopeo_raw(ref, creds))

    def skopeo_inspect(self, ref: str, creds: str | None = None) -> dict[str, Any]:
        out = self.run("skopeo", "inspect", "--tls-verify=false", *creds_args(creds), ref).stdout
        info: dict[str, Any] = json.loads(out)
        return info


def creds_args(creds: str | None, flag: str = "--creds") -> list[str]:
    return [flag, creds] if creds else []


def wharf_env(db_uri: str | None = None, settings_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a wharf process: the test runner's WHARF_* variables (WHARF_TEST_DB,
    WHARF_E2E_SERVER...) are left out, since wharf reads WHARF_* as settings, and ours put in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    if db_uri:
        env["WHARF_DB_URI"] = db_uri
    env.update(settings_env or {})
    return env


def wharf_cli(
    *args: str, db_uri: str | None = None, settings_env: Mapping[str, str] | None = None, timeout: float = 120
) -> str:
    """Run `wharf ARGS...` (e.g. admin token admin --data-dir D) and return its standard output."""
    proc = subprocess.run(
        [str(WHARF), *args],
        env=wharf_env(db_uri, settings_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise AssertionError(f"wharf {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def server_database(server: Server) -> Database:
    """The server's database opened by the test process (its SQLite file, or its PostgreSQL), to
    set up what would cost a test many requests or a `wharf` process; `dispose()` it after."""
    return Database(server.db_uri or f"sqlite+aiosqlite:///{server.data_dir / 'wharf.db'}", pool_size=1)


def user_token(server: Server, name: str) -> str:
    """A new OAuth token of a user of the server, with every scope: what `wharf admin token NAME`
    prints (tests/process/test_cli.py runs that), minted here without a process's start-up."""
    db = server_database(server)
    try:
        user = db.run_read(accounts.get_by_name, name)
        assert user is not None and user.kind == "user", f"the server has no user {name!r} yet"
        return db.run_write(tokens.mint, user, oauth_scopes.ALL)
    finally:
        db.dispose()


def admin_token(server: Server) -> str:
    """A new OAuth token of the server's admin, with every scope."""
    return user_token(server, ADMIN_USER)


def admin_api(server: Server) -> httpx.Client:
    """/api/v1 of a Wharf server as its admin, with a token of every scope."""
    token = admin_token(server)
    return httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


class Worker(ServerProcess):
    """A `wharf worker` process (or `wharf builder`, with `command`): runs the jobs queued in its
    database. It logs JSON lines (at `log_level`), so that a test can see what it did (`records()`)."""

    def __init__(
        self,
        workdir: Path,
        db_uri: str | None = None,
        settings_env: dict[str, str] | None = None,
        name: str = "worker",
        log_level: str = "info",
        command: str = "worker",
    ) -> None:
        self.workdir = workdir
        self.command = command
        self.log_level = log_level
        self.name = name
        self.data_dir = workdir / "data"
        self.db_uri = db_uri
        self.settings_env = settings_env or {}
        super().__init__(workdir / f"{name}.log", name)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(WHARF),
            self.command,
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            self.log_level,
            "--log-format",
            "json",
        ]
        self.launch(cmd, wharf_env(self.db_uri, self.settings_env), None)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def records(self) -> list[dict[str, Any]]:
        """The JSON log records written so far (other lines, e.g. a traceback, are skipped)."""
        out: list[dict[str, Any]] = []
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

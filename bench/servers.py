"""Start Wharf and CNCF distribution side by side, and measure their processes."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import bcrypt
import httpx
import psutil
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WHARF = Path(sys.executable).parent / "wharf"
PASSWORD = "bench-password"
REPO = Path(__file__).resolve().parent.parent
# What `htpasswd -B` writes (and docker_auth's examples use): see bench/README.md.
BCRYPT_COST = 5


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
    # Who the bench signs in as (Wharf's admin; a user of the token server for distribution).
    username: str = "admin"
    password: str = PASSWORD
    token_auth: TokenAuth | None = None
    # The peak of rss() since the last reset_window(), sampled with peak_rss.
    window_peak: int = 0
    kind: str = "wharf"  # or "distribution"
    ca: Path | None = None
    """The certificate a server on HTTPS answers with (self-signed); None: plain HTTP."""

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
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

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
        """Resident memory of the server's process tree, and of its token server if it has one."""
        total = self.token_auth.rss() if self.token_auth is not None else 0
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

    def watch_memory(self, interval: float = 0.1) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                rss = self.rss()
                self.peak_rss = max(self.peak_rss, rss)
                self.window_peak = max(self.window_peak, rss)

        threading.Thread(target=loop, daemon=True).start()

    def reset_window(self) -> None:
        self.window_peak = self.rss()

    def stop(self) -> None:
        self._stop.set()
        if self.token_auth is not None:
            self.token_auth.stop()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class TokenAuth:
    """The token server in front of distribution (bench/token_server.py), its own process."""

    proc: subprocess.Popen[bytes]
    realm: str
    service: str
    users_file: Path
    cost: int
    port: int
    """Where the token server listens (the realm may name another port: a relay in front of it)."""

    def add_users(self, users: dict[str, str]) -> None:
        """Give the token server these `user: password` pairs, bcrypt-hashed at `cost`. Users with
        the same password share one hash (same salt): verifying costs the same, creating is cheaper."""
        hashes: dict[str, bytes] = {}
        lines = []
        for user, password in users.items():
            if password not in hashes:
                hashes[password] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.cost))
            lines.append(f"{user}:{hashes[password].decode()}\n")
        with self.users_file.open("a") as f:
            f.writelines(lines)

    def cpu_seconds(self) -> float:
        try:
            t = psutil.Process(self.proc.pid).cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return t.user + t.system

    def rss(self) -> int:
        try:
            return int(psutil.Process(self.proc.pid).memory_info().rss)
        except psutil.NoSuchProcess:
            return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _signing_key(root: Path, name: str) -> tuple[Path, Path]:
    """An EC P-256 key and a self-signed certificate for it: the key signs the tokens, the
    certificate is distribution's rootcertbundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench token server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = root / f"{name}-token.key", root / f"{name}-token.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


LOOPBACK: Final = "127.0.0.1"


def _tls_certificate(root: Path, name: str) -> Path:
    """A self-signed certificate for 127.0.0.1 (its key next to it, .key): trust it with
    SSL_CERT_FILE."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file = root / f"{name}-tls.crt"
    cert_file.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_file


def start_token_server(
    root: Path, name: str, cost: int = BCRYPT_COST, realm_port: int | None = None
) -> tuple[TokenAuth, dict[str, Any]]:
    """Start the token server; returns it and distribution's `auth` configuration section. The realm
    names `realm_port` when given (a relay in front of the token server), else its own port."""
    key_file, cert_file = _signing_key(root, name)
    users = root / f"{name}-users.htpasswd"
    users.write_text("")
    port = free_port()
    service, issuer = "bench-registry", "bench-token-server"
    log = root / f"{name}-token.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.token_server",
            *("--port", str(port), "--key", str(key_file), "--users", str(users)),
            *("--issuer", issuer, "--service", service),
        ],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait(f"http://127.0.0.1:{port}/healthz", proc, log)
    realm = f"http://127.0.0.1:{realm_port or port}/token"
    auth = TokenAuth(proc, realm, service, users, cost, port)
    section = {
        "token": {"realm": realm, "service": service, "issuer": issuer, "rootcertbundle": str(cert_file)}
    }
    return auth, section


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, ca: Path | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1, verify=str(ca) if ca else True)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


NO_SCANNER: Final = {"FEATURE_SECURITY_SCANNER": "false"}
"""Wharf without vulnerability scanning, for comparisons with a peer that has none."""


def start_wharf(
    root: Path,
    workers: int | None,
    name: str = "wharf",
    settings: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Server:
    """Start Wharf on its defaults, with `settings` (`KEY: value`) passed as WHARF_KEY variables
    and `extra_args` added to `wharf serve`'s."""
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
        *extra_args,
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait(f"http://127.0.0.1:{port}/health", proc, log)
    return Server(name, port, proc, needs_auth=True, namespace="admin")


def start_distribution(
    root: Path,
    name: str = "distribution",
    storage: dict[str, Any] | None = None,
    token_auth: bool = True,
    bcrypt_cost: int = BCRYPT_COST,
    tls: bool = False,
    token_realm_port: int | None = None,
) -> Server:
    """Start distribution with `storage` as its configuration's storage section (default: the
    filesystem under `root`, deletes enabled), behind bench/token_server.py unless `token_auth`
    is false (then without authentication), on HTTPS with a self-signed certificate for 127.0.0.1
    if `tls`. The token server's CPU counts as a backend's. `token_realm_port`: the port the
    token realm names instead of the token server's own (a relay in front of it, bench/link.py,
    started once `token_auth.port` is known)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("CNCF distribution is not installed: apt-get install docker-registry")
    port = free_port()
    config = root / f"{name}.yml"
    if storage is None:
        storage = {"filesystem": {"rootdirectory": str(root / name)}, "delete": {"enabled": True}}
    ca = _tls_certificate(root, name) if tls else None
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}"}
    if ca is not None:
        http["tls"] = {"certificate": str(ca), "key": str(ca.with_suffix(".key"))}
    settings = {
        "version": 0.1,
        "storage": storage,
        "http": http,
        # No access log: Wharf, at --log-level warning, writes none either.
        "log": {"level": "error", "accesslog": {"disabled": True}},
    }
    auth = None
    if token_auth:
        auth, settings["auth"] = start_token_server(root, name, bcrypt_cost, token_realm_port)
        auth.add_users({"bench": PASSWORD})
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
    try:
        _wait(f"{'https' if ca else 'http'}://127.0.0.1:{port}/v2/", proc, log, ca)
    except BaseException:
        if auth is not None:
            auth.stop()
        raise
    server = Server(
        name,
        port,
        proc,
        needs_auth=auth is not None,
        namespace="bench",
        username="bench",
        kind="distribution",
        ca=ca,
    )
    if auth is not None:
        server.token_auth = auth
        server.backends["token server"] = auth.cpu_seconds
    return server

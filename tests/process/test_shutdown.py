"""`wharf serve` stops gracefully on SIGTERM, as an orchestrator stops it: requests in flight
finish, new connections are refused at once, and the process then exits with status 0."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.process.server import WharfServer, wait_until

MiB = 1024 * 1024
REPO = "admin/drain"
# Both larger than what socket buffers on either side hold, so the requests stay in flight for
# as long as the test holds them.
UPLOAD_HALF = 8 * MiB
DOWNLOAD_SIZE = 32 * MiB
WAIT_S = 60


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _connection_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def _upload_bytes_stored(data_dir: Path, at_least: int) -> bool:
    uploads = data_dir / "storage" / "uploads"
    return uploads.is_dir() and any(f.stat().st_size >= at_least for f in uploads.iterdir())


def test_sigterm_drains_requests_in_flight_and_exits_0(server: WharfServer) -> None:
    assert server.proc is not None
    headers = {"Authorization": f"Bearer {server.token(f'repository:{REPO}:pull,push')}"}

    def client() -> httpx.Client:
        return httpx.Client(base_url=server.url, headers=headers, timeout=WAIT_S)

    upload = os.urandom(2 * UPLOAD_HALF)
    download = os.urandom(DOWNLOAD_SIZE)
    with client() as c:
        r = c.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": _digest(download)}, content=download)
        assert r.status_code == 201, r.text

    sent_half, got_first_chunk, resume = threading.Event(), threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield upload[:UPLOAD_HALF]
        sent_half.set()
        resume.wait(WAIT_S)
        yield upload[UPLOAD_HALF:]

    def push() -> httpx.Response:
        """A monolithic upload, streamed: it is committed only once its last byte is in."""
        with client() as c:
            digest = {"digest": _digest(upload)}
            return c.post(f"/v2/{REPO}/blobs/uploads/", params=digest, content=slow_body())

    def pull() -> tuple[int, str]:
        digest = hashlib.sha256()
        with client() as c, c.stream("GET", f"/v2/{REPO}/blobs/{_digest(download)}") as r:
            chunks = r.iter_bytes(MiB)
            digest.update(next(chunks))
            got_first_chunk.set()
            resume.wait(WAIT_S)
            for chunk in chunks:
                digest.update(chunk)
            return r.status_code, "sha256:" + digest.hexdigest()

    with ThreadPoolExecutor(2) as pool:
        pushed, pulled = pool.submit(push), pool.submit(pull)
        try:
            wait_until(lambda: sent_half.is_set() and got_first_chunk.is_set(), "both requests to start")
            # Bytes of the upload on disk: its request is under way in the server, not just sent.
            wait_until(
                lambda: _upload_bytes_stored(server.data_dir, MiB), "the server to store the first half"
            )
            os.kill(server.proc.pid, signal.SIGTERM)
            wait_until(lambda: _connection_refused(server.port), "new connections to be refused")
            assert server.proc.poll() is None, "the server exited with requests in flight"
        finally:
            resume.set()
        response = pushed.result(WAIT_S)
        status, pulled_digest = pulled.result(WAIT_S)

    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == _digest(upload)
    assert (status, pulled_digest) == (200, _digest(download))
    assert server.proc.wait(WAIT_S) == 0, server.log.read_text()[-3000:]

    # The upload was committed, not merely answered: a new server on the same data serves it.
    server.start()
    with client() as c:
        assert c.get(f"/v2/{REPO}/blobs/{_digest(upload)}").content == upload

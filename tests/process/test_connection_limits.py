"""A real `wharf serve` bounds what one connection may hold: slow or endless headers, a stalled
request body. Small limits are configured; each test waits (with a generous deadline) for the
server to close the connection, and asserts nothing about how long that took."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.process.server import WharfServer

DEADLINE_S = 60  # far beyond the 1 s limits below: only a server that never closes fails


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WharfServer]:
    srv = WharfServer(Path(tmp_path_factory.mktemp("limits")) / "data", "limits-test-pw")
    srv.start(
        settings={
            "HTTP_HEADER_TIMEOUT_S": "1",
            "HTTP_BODY_IDLE_TIMEOUT_S": "1",
            "HTTP_MAX_HEADER_BYTES": "8192",
        }
    )
    yield srv
    srv.stop()


def _connect(server: WharfServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S)
    return sock


def _read_until_closed(sock: socket.socket, trickle: bytes = b"") -> bytes:
    """Everything the server sends until it closes the connection; meanwhile `trickle` is sent one
    byte at a time, as a slowloris client does. Fails if the server keeps it open past DEADLINE_S."""
    received = b""
    deadline = time.monotonic() + DEADLINE_S
    sock.settimeout(0.2)
    position = 0
    while time.monotonic() < deadline:
        if position < len(trickle):
            try:
                sock.sendall(trickle[position : position + 1])
            except OSError:  # closed by the server while we wrote
                return received
            position += 1
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open for {DEADLINE_S} s")


def test_a_connection_that_sends_nothing_is_closed(server: WharfServer) -> None:
    with _connect(server) as sock:
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: WharfServer) -> None:
    endless = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100_000
    with _connect(server) as sock:
        answer = _read_until_closed(sock, trickle=endless)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_headers_that_never_end_are_refused(server: WharfServer) -> None:
    with _connect(server) as sock:
        with contextlib.suppress(OSError):  # the server may close before it has read everything
            sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer


def test_keep_alive_still_serves_request_after_request(server: WharfServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until_closed(sock)  # answers both, then closes when idle
    assert answer.count(b"HTTP/1.1 200") == 2, answer


def test_a_stalled_upload_body_is_answered_and_closed(server: WharfServer) -> None:
    token = server.token("repository:admin/slow:pull,push")
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{server.url}/v2/admin/slow/blobs/uploads/", headers=auth)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    with _connect(server) as sock:
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n".encode()
            + b"x" * 10
        )
        answer = _read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in head.lower()
    assert b'"code": "BLOB_UPLOAD_INVALID"' in body and b"HTTP_BODY_IDLE_TIMEOUT_S" in body
    # the stalled chunk was not kept: the upload resumes from where it was
    r = httpx.get(f"{server.url}{location}", headers=auth)
    assert r.status_code == 204 and r.headers["Range"] == "0-0", r.headers

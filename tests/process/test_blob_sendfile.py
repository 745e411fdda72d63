"""A real `wharf serve` sends blob bodies from the filesystem with sendfile(2) (serving.SENDFILE):
whole blobs, ranges, HEAD, keep-alive after such a response, and a client that goes away mid-way
(the server closes the blob's file and the socket's duplicate: its descriptors come back to what
they were, which also means the request's task finished, since it closes the file last)."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.process.server import WharfServer
from tests.waiting import wait_until

DEADLINE_S = 60
SIZE = 24 * 1024 * 1024 + 12345  # more than the socket buffers hold, not a multiple of a chunk
DATA = (hashlib.sha512(b"sendfile").digest() * (SIZE // 64 + 1))[:SIZE]
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
BLOB = f"/v2/admin/files/blobs/{DIGEST}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WharfServer]:
    srv = WharfServer(Path(tmp_path_factory.mktemp("sendfile")) / "data", "sendfile-test-pw")
    srv.start()
    token = srv.token("repository:admin/files:pull,push")
    r = httpx.post(
        f"{srv.url}/v2/admin/files/blobs/uploads/",
        params={"digest": DIGEST},
        content=DATA,
        headers={"Authorization": f"Bearer {token}"},
        timeout=DEADLINE_S,
    )
    assert r.status_code == 201, r.text
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def auth(server: WharfServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token('repository:admin/files:pull')}"}


def test_whole_blob(server: WharfServer, auth: dict[str, str]) -> None:
    r = httpx.get(server.url + BLOB, headers=auth, timeout=DEADLINE_S)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(SIZE)
    assert r.headers["docker-content-digest"] == DIGEST
    assert "transfer-encoding" not in r.headers
    assert r.content == DATA


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-0", 0, 0), ("bytes=1000-5000000", 1000, 5000000), (f"bytes=-{SIZE - 7}", 7, SIZE - 1)],
)
def test_range(server: WharfServer, auth: dict[str, str], header: str, start: int, end: int) -> None:
    r = httpx.get(server.url + BLOB, headers={**auth, "Range": header}, timeout=DEADLINE_S)
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.content == DATA[start : end + 1]


def test_head(server: WharfServer, auth: dict[str, str]) -> None:
    r = httpx.head(server.url + BLOB, headers=auth, timeout=DEADLINE_S)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(SIZE)
    assert r.content == b""


def test_connection_is_reused_after_a_sendfile_response(server: WharfServer, auth: dict[str, str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE_S)
    try:
        bodies: list[bytes] = []
        for headers in ({}, {"Range": "bytes=10-19"}, {}):
            conn.request("GET", BLOB, headers={**auth, **headers})
            if not bodies:
                sock = conn.sock
            r = conn.getresponse()
            bodies.append(r.read())
            assert not r.will_close
            assert conn.sock is sock  # the same connection, never reopened
        conn.request("HEAD", BLOB, headers=auth)
        r = conn.getresponse()
        assert r.status == 200
        r.read()
        assert conn.sock is sock
    finally:
        conn.close()
    assert bodies == [DATA, DATA[10:20], DATA]


def _held(server: WharfServer) -> tuple[list[str], list[Any]]:
    """The blob files the server holds open, and its connections from clients (counted thus, not as
    all descriptors: a PostgreSQL pool may open connections meanwhile)."""
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    files = [f.path for f in proc.open_files() if "/sha256/" in f.path]
    clients = [
        c
        for c in proc.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == server.port and c.status != psutil.CONN_LISTEN
    ]
    return files, clients


def test_client_gone_mid_way_leaks_no_descriptor(server: WharfServer, auth: dict[str, str]) -> None:
    request = (
        f"GET {BLOB} HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: {auth['Authorization']}\r\n\r\n"
    ).encode()
    held_before = _held(server)
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S)
        sock.sendall(request)
        got = 0
        while got < 1024 * 1024:  # headers and the first MiB, then the client is gone
            chunk = sock.recv(65536)
            assert chunk
            got += len(chunk)
        sock.close()
    wait_until(lambda: _held(server) == held_before, "the server to let go of the files", DEADLINE_S)
    assert _held(server) == held_before == ([], [])
    # and the server goes on serving
    r = httpx.get(server.url + BLOB, headers={**auth, "Range": "bytes=0-99"}, timeout=DEADLINE_S)
    assert r.content == DATA[:100]


def test_blob_file_shorter_than_recorded_ends_the_connection(server: WharfServer) -> None:
    """A file cut short on disk (damage outside Wharf) cannot fill the promised Content-Length:
    the connection is closed, so the client sees a truncated download rather than a wrong blob."""
    token = server.token("repository:admin/cut:pull,push")
    auth = {"Authorization": f"Bearer {token}"}
    data = DATA[: 3 * 1024 * 1024]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    url = f"{server.url}/v2/admin/cut/blobs/{digest}"
    r = httpx.post(
        f"{server.url}/v2/admin/cut/blobs/uploads/", params={"digest": digest}, content=data, headers=auth
    )
    assert r.status_code == 201
    (stored,) = server.data_dir.rglob(digest.removeprefix("sha256:"))
    os.truncate(stored, len(data) // 2)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url, headers=auth, timeout=DEADLINE_S)
    assert httpx.get(url, headers={**auth, "Range": "bytes=0-9"}, timeout=DEADLINE_S).content == data[:10]


def _response(sock: socket.socket, buffered: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, body, what follows) of the next response on `sock`, `buffered` read already."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    fields = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        rest += chunk
    return head, rest[:length], rest[length:]


def test_pipelined_requests_after_a_sendfile_response(server: WharfServer, auth: dict[str, str]) -> None:
    def get(range_: str) -> bytes:
        return (
            f"GET {BLOB} HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: {auth['Authorization']}\r\n"
            f"Range: bytes={range_}\r\n\r\n"
        ).encode()

    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S) as sock:
        sock.sendall(get("0-2999999") + get("5-9") + get(f"{SIZE - 3}-"))
        rest = b""
        bodies: list[bytes] = []
        for _ in range(3):
            head, body, rest = _response(sock, rest)
            assert head.startswith(b"HTTP/1.1 206 ")
            bodies.append(body)
    assert bodies == [DATA[:3000000], DATA[5:10], DATA[-3:]]

"""A 1 GiB push and pull must not raise the server's memory by more than a few MiB."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import psutil

from tests.process.server import WharfServer

BLOCK = hashlib.sha512(b"wharf").digest() * 1024  # 64 KiB of fixed bytes
SIZE = 1024 * 1024 * 1024
MAX_GROWTH = 16 * 1024 * 1024


def _body() -> Iterator[bytes]:
    for _ in range(SIZE // len(BLOCK)):
        yield BLOCK


def _digest() -> str:
    h = hashlib.sha256()
    for chunk in _body():
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def _rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return int(sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))


def test_one_gib_push_and_pull_stream(server: WharfServer) -> None:
    assert server.proc is not None
    digest = _digest()
    token = server.token("repository:admin/big:pull,push")
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=h, timeout=120) as c:
        # warm up: the first requests import and allocate what every request needs
        c.post(
            "/v2/admin/big/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(b"w").hexdigest()},
            content=b"w",
        )
        before = _rss(server.proc.pid)
        r = c.post("/v2/admin/big/blobs/uploads/", content=_body())
        assert r.status_code == 202
        r = c.patch(r.headers["Location"], content=_body())
        assert r.status_code == 202
        r = c.put(r.headers["Location"], params={"digest": digest})
        assert r.status_code == 201, r.text
        after_push = _rss(server.proc.pid)
        h2 = hashlib.sha256()
        with c.stream("GET", f"/v2/admin/big/blobs/{digest}") as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_bytes(1024 * 1024):
                h2.update(chunk)
        after_pull = _rss(server.proc.pid)
    assert "sha256:" + h2.hexdigest() == digest
    assert after_push - before < MAX_GROWTH, f"push grew RSS by {(after_push - before) >> 20} MiB"
    assert after_pull - before < MAX_GROWTH, f"pull grew RSS by {(after_pull - before) >> 20} MiB"

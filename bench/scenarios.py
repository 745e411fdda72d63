"""The scenarios. Each takes one server (a Target) and returns one timed Sample.

Setup (pushing what a scenario reads) happens outside the timed window, and only once per server.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.client import NAMESPACE, OCI_MANIFEST, Registry, sha256, with_digest
from bench.servers import Server
from bench.tools import TOOL_TIMEOUT, MiB, RandomSource, Sample, Window, curl, header_args, wrk

T = TypeVar("T")
POPULATE_THREADS = 8


@dataclass
class Target:
    """One server under test, with the client state the scenarios keep for it."""

    server: Server
    registry: Registry
    scratch: Path
    rand: RandomSource
    state: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, setup: Callable[[], T]) -> T:
        if key not in self.state:
            self.state[key] = setup()
        value: T = self.state[key]
        return value

    def window(self) -> Window:
        return Window(self.server)

    def repo(self, name: str) -> str:
        return f"{NAMESPACE}/{name}"

    def next(self, key: str) -> int:
        n: int = self.state.get(f"#{key}", 0)
        self.state[f"#{key}"] = n + 1
        return n


# -- blobs -----------------------------------------------------------------------------------------


def push_monolithic(t: Target, size: int) -> Sample:
    """POST, then one PUT carrying the whole blob (curl streams it from the page cache)."""
    repo = t.repo("mono")
    path = t.scratch / f"mono-{t.server.name}-{t.next('mono')}.bin"
    digest = t.rand.file(path, size)
    try:
        with t.window() as w:
            location = t.registry.start_upload(repo)
            (code,) = curl(
                [
                    "-X",
                    "PUT",
                    "-T",
                    str(path),
                    *header_args(t.registry.repo_headers(repo)),
                    "-H",
                    "Content-Type: application/octet-stream",
                    "-H",
                    "Expect:",  # no 100-continue round trip: Go and containerd clients do not send one
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    with_digest(location, digest),
                ]
            )
        if code != "201":
            raise RuntimeError(f"monolithic PUT answered {code}")
    finally:
        path.unlink()
    return w.result(size / MiB / w.wall)


def push_chunked(t: Target, size: int, chunk: int) -> Sample:
    """POST, a PATCH per chunk with Content-Range, then PUT ?digest= with no body."""
    repo = t.repo("chunked")
    path = t.scratch / f"chunked-{t.server.name}-{t.next('chunked')}.bin"
    digest = t.rand.file(path, size)
    http = t.registry.http
    try:
        with t.window() as w, path.open("rb") as f:
            h = t.registry.repo_headers(repo)
            location = t.registry.start_upload(repo)
            offset = 0
            while data := f.read(chunk):
                r = http.patch(
                    location,
                    content=data,
                    headers={
                        **h,
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(data) - 1}",
                    },
                )
                if r.status_code != 202:
                    raise RuntimeError(f"PATCH at {offset}: {r.status_code} {r.text[:300]}")
                offset += len(data)
                location = t.registry.absolute(r.headers["Location"])
            r = http.put(with_digest(location, digest), headers=h)
            if r.status_code != 201:
                raise RuntimeError(f"closing PUT: {r.status_code} {r.text[:300]}")
    finally:
        path.unlink()
    return w.result(size / MiB / w.wall)


def pull_blob(t: Target, size: int, times: int) -> Sample:
    """GET one blob `times` times over one keep-alive connection (one curl process), to /dev/null."""
    repo = t.repo("pull")

    def setup() -> str:
        path = t.scratch / f"pull-{t.server.name}.bin"
        digest = t.rand.file(path, size)
        try:
            location = t.registry.start_upload(repo)
            curl(
                [
                    "-X",
                    "PUT",
                    "-T",
                    str(path),
                    *header_args(t.registry.repo_headers(repo)),
                    "-H",
                    "Expect:",
                    "-o",
                    "/dev/null",
                    with_digest(location, digest),
                ]
            )
        finally:
            path.unlink()
        return digest

    digest = t.once(f"pull-{size}", setup)
    url = f"{t.server.url}/v2/{repo}/blobs/{digest}"
    args = ["-L", *header_args(t.registry.repo_headers(repo)), "-w", "%{http_code} %{size_download}\\n"]
    for _ in range(times):
        args += ["-o", "/dev/null", url]
    with t.window() as w:
        lines = curl(args)
    if lines != [f"200 {size}"] * times:
        raise RuntimeError(f"blob pulls: {lines}")
    return w.result(size * times / MiB / w.wall)


# -- manifests -------------------------------------------------------------------------------------

PUT_SCRIPT = """
-- Each request PUTs a distinct manifest (an annotation differs) under a distinct tag.
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
local head = [==[%(head)s]==]
local tail = [==[%(tail)s]==]
request = function()
  counter = counter + 1
  local n = tostring(tid) .. "-" .. tostring(counter)
  return wrk.format("PUT", "%(path)s" .. n, nil, head .. n .. tail)
end
"""


def manifest_put(t: Target, seconds: float, connections: int) -> Sample:
    """Distinct image manifests PUT under distinct tags, closed loop over keep-alive connections (wrk)."""
    repo = t.repo("manifests")
    rep = t.next("manifest-put")

    def setup() -> dict[str, Any]:
        return t.registry.image_manifest(repo, [t.rand.bytes(2048)])

    manifest = t.once("manifest-put", setup)
    marker = "@@N@@"
    text = json.dumps({**manifest, "annotations": {"bench": marker}})
    head, tail = text.split(marker)
    script = t.scratch / f"put-{t.server.name}.lua"
    path = f"/v2/{repo}/manifests/r{rep}-"
    script.write_text(PUT_SCRIPT % {"head": head, "tail": tail, "path": path})
    headers = {**t.registry.repo_headers(repo), "Content-Type": OCI_MANIFEST}
    with t.window() as w:
        res = wrk(
            t.server.url + path, seconds=seconds, connections=connections, headers=headers, script=script
        )
    # every counted PUT must have left a readable tag behind, byte for byte
    h = {**t.registry.repo_headers(repo), "Accept": OCI_MANIFEST}
    prefix = path.rsplit("/", 1)[1]
    tags = [
        x
        for x in t.registry.http.get(f"/v2/{repo}/tags/list?n=1000000", headers=h).json()["tags"]
        if x.startswith(prefix)
    ]
    if len(tags) < res.requests:
        raise RuntimeError(f"wrk counted {res.requests} PUTs but the registry lists {len(tags)} tags")
    sample = tags[len(tags) // 2]
    r = t.registry.http.get(f"/v2/{repo}/manifests/{sample}", headers=h)
    if r.status_code != 200 or r.content != f"{head}{sample.removeprefix(prefix)}{tail}".encode():
        raise RuntimeError(f"manifest written by wrk not readable: {r.status_code} {r.text[:200]}")
    return w.result(res.rate, p50=f"{res.p50_ms:.1f} ms", p99=f"{res.p99_ms:.1f} ms", n=str(res.requests))


def manifest_get(t: Target, by: str, seconds: float, connections: int) -> Sample:
    """GET one manifest by tag or by digest, `connections` keep-alive clients (wrk), Accept set."""
    repo = t.repo("gets")

    def setup() -> str:
        manifest = t.registry.image_manifest(repo, [t.rand.bytes(4096)])
        return t.registry.put_manifest(repo, "latest", json.dumps(manifest).encode())

    digest = t.once("gets", setup)
    ref = "latest" if by == "tag" else digest
    headers = {**t.registry.repo_headers(repo), "Accept": OCI_MANIFEST}
    with t.window() as w:
        res = wrk(
            f"{t.server.url}/v2/{repo}/manifests/{ref}",
            seconds=seconds,
            connections=connections,
            headers=headers,
        )
    return w.result(res.rate, p50=f"{res.p50_ms:.1f} ms", p99=f"{res.p99_ms:.1f} ms", n=str(res.requests))


# -- listing ---------------------------------------------------------------------------------------


def _populate_tags(t: Target, count: int) -> str:
    repo = t.repo("tags")
    body = json.dumps(t.registry.image_manifest(repo, [t.rand.bytes(512)])).encode()

    def work(i: int) -> None:
        with t.registry.client() as http:
            for j in range(i, count, POPULATE_THREADS):
                t.registry.put_manifest(repo, f"tag{j:05d}", body, http)

    with ThreadPoolExecutor(POPULATE_THREADS) as pool:
        list(pool.map(work, range(POPULATE_THREADS)))
    return repo


def _walk(t: Target, first: str, headers: dict[str, str], key: str, page: int) -> tuple[int, int, bool]:
    """Follow Link headers from `first`; return (entries, pages, whether pages honoured n)."""
    url: str | None = first
    seen = pages = 0
    honoured = True
    while url:
        r = t.registry.http.get(t.registry.absolute(url), headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:300]}")
        entries = r.json()[key] or []
        honoured = honoured and len(entries) <= page
        seen += len(entries)
        pages += 1
        link = r.headers.get("Link")
        url = link.split(";")[0].strip().strip("<>") if link else None
    return seen, pages, honoured


def _repeat(w: Window, once: Callable[[], None], min_seconds: float, cap: int = 1000) -> int:
    """Call `once` until `min_seconds` have passed inside the window (at most `cap` times): short
    operations need a window long enough for the CPU accounting, whose tick is 10 ms."""
    n = 0
    while n < cap and (n == 0 or time.perf_counter() - w.started < min_seconds):
        once()
        n += 1
    return n


def list_tags_full(t: Target, count: int, min_seconds: float) -> Sample:
    """Milliseconds per full tags/list of a `count`-tag repository in one request (n=count)."""
    repo = t.once("tags", lambda: _populate_tags(t, count))
    h = t.registry.repo_headers(repo)

    def once() -> None:
        r = t.registry.http.get(f"/v2/{repo}/tags/list", params={"n": count}, headers=h)
        if r.status_code != 200 or len(r.json()["tags"]) != count:
            raise RuntimeError(f"tags/list: {r.status_code} {r.text[:200]}")

    with t.window() as w:
        n = _repeat(w, once, min_seconds)
    return w.result(w.wall / n * 1000, listings=str(n))


def list_tags_paged(t: Target, count: int, page: int, min_seconds: float) -> Sample:
    """Milliseconds to walk all `count` tags in pages of `page`, following Link (n and last)."""
    repo = t.once("tags", lambda: _populate_tags(t, count))
    h = t.registry.repo_headers(repo)
    walks: list[tuple[int, int, bool]] = []

    def once() -> None:
        walks.append(_walk(t, f"/v2/{repo}/tags/list?n={page}", h, "tags", page))
        if walks[-1][0] != count:
            raise RuntimeError(f"tag walk saw {walks[-1][0]} of {count}")
        if not walks[-1][2]:
            raise _Unsupported

    try:
        with t.window() as w:
            n = _repeat(w, once, min_seconds)
    except _Unsupported:
        return w.result(None, why=f"ignores n: all {count} tags in one answer")
    pages = walks[0][1]
    return w.result(
        w.wall / n * 1000, walks=str(n), pages=str(pages), per_page=f"{w.wall * 1000 / n / pages:.2f} ms"
    )


class _Unsupported(Exception):
    pass


def _populate_catalog(t: Target, count: int) -> int:
    names = [t.repo(f"catalog/r{i:04d}") for i in range(count)]
    batch = 50  # one token for 50 repository scopes, as a client pushing many repositories would hold

    def scopes(j: int) -> tuple[str, ...]:
        start = j // batch * batch
        return tuple(f"repository:{n}:pull,push" for n in names[start : start + batch])

    def work(i: int) -> None:
        with t.registry.client() as http:
            for j in range(i, count, POPULATE_THREADS):
                repo = names[j]
                h = t.registry.headers(*scopes(j))
                config = json.dumps({"architecture": "amd64", "os": "linux", "repo": j}).encode()
                digest = sha256(config)
                r = http.post(f"/v2/{repo}/blobs/uploads/", headers=h)
                r = http.put(
                    with_digest(t.registry.absolute(r.headers["Location"]), digest), content=config, headers=h
                )
                if r.status_code != 201:
                    raise RuntimeError(f"catalog blob: {r.status_code} {r.text[:200]}")
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": digest,
                        "size": len(config),
                    },
                    "layers": [],
                }
                r = http.put(
                    f"/v2/{repo}/manifests/latest",
                    content=json.dumps(manifest).encode(),
                    headers={**h, "Content-Type": OCI_MANIFEST},
                )
                if r.status_code != 201:
                    raise RuntimeError(f"catalog manifest: {r.status_code} {r.text[:200]}")

    for j in range(0, count, batch):  # tokens first, so the workers only push
        t.registry.headers(*scopes(j))
    with ThreadPoolExecutor(POPULATE_THREADS) as pool:
        list(pool.map(work, range(POPULATE_THREADS)))
    return count


def walk_catalog(t: Target, count: int, page: int, min_seconds: float) -> Sample:
    """Milliseconds to walk the whole _catalog in pages of `page`, following Link (n and last)."""
    t.once("catalog", lambda: _populate_catalog(t, count))
    h = t.registry.catalog_headers()
    walks: list[tuple[int, int, bool]] = []

    def once() -> None:
        walks.append(_walk(t, f"/v2/_catalog?n={page}", h, "repositories", page))
        seen, pages, honoured = walks[-1]
        if seen < count or not honoured:
            raise RuntimeError(
                f"catalog walk saw {seen} repositories in {pages} pages (n honoured: {honoured})"
            )

    with t.window() as w:
        n = _repeat(w, once, min_seconds)
    pages = walks[0][1]
    return w.result(
        w.wall / n * 1000, walks=str(n), pages=str(pages), per_page=f"{w.wall * 1000 / n / pages:.2f} ms"
    )


# -- many clients ----------------------------------------------------------------------------------


def image_pulls(t: Target, clients: int, layer: int) -> Sample:
    """`clients` clients pull the same image at once: manifest, then its 3 layers (one curl process,
    `clients` parallel keep-alive connections). Figure: layer bytes delivered per second."""
    repo = t.repo("pull3")

    def setup() -> tuple[str, list[str]]:
        manifest = t.registry.image_manifest(repo, [t.rand.bytes(layer) for _ in range(3)])
        digest = t.registry.put_manifest(repo, "v1", json.dumps(manifest).encode())
        return digest, [x["digest"] for x in manifest["layers"]]

    digest, layers = t.once(f"pull3-{layer}", setup)
    urls = [f"{t.server.url}/v2/{repo}/manifests/{digest}"] + [
        f"{t.server.url}/v2/{repo}/blobs/{d}" for d in layers
    ]
    config = t.scratch / f"pull3-{t.server.name}.curl"
    config.write_text("".join(f'url = "{u}"\noutput = "/dev/null"\n' for _ in range(clients) for u in urls))
    args = [
        "--parallel",
        "--parallel-immediate",
        "--parallel-max",
        str(clients),
        "-L",
        *header_args({**t.registry.repo_headers(repo), "Accept": OCI_MANIFEST}),
        "-w",
        "%{http_code} %{size_download}\\n",
        "-K",
        str(config),
    ]
    with t.window() as w:
        lines = curl(args)
    got = sorted(lines)
    want = sorted([f"200 {layer}"] * (3 * clients) + [f"200 {_manifest_size(t, repo, digest)}"] * clients)
    if got != want:
        raise RuntimeError(f"parallel pulls: {got[:5]}...")
    return w.result(clients * 3 * layer / MiB / w.wall)


def _manifest_size(t: Target, repo: str, digest: str) -> int:
    r = t.registry.http.get(
        f"/v2/{repo}/manifests/{digest}", headers={**t.registry.repo_headers(repo), "Accept": OCI_MANIFEST}
    )
    return len(r.content)


def tool_versions() -> dict[str, str]:
    """Versions of the external tools, for the report."""
    out: dict[str, str] = {}
    for name, cmd in {
        "distribution": ["docker-registry", "--version"],
        "curl": ["curl", "--version"],
        "wrk": ["wrk", "-v"],
    }.items():
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
            out[name] = (p.stdout or p.stderr).splitlines()[0].strip()
        except (OSError, IndexError):
            out[name] = "?"
    return out

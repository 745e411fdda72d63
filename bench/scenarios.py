"""The benchmark scenarios. Each returns one figure for one server; higher is better unless noted."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from bench.dockerlike import basic, parse_challenge
from bench.servers import PASSWORD, Server

MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 8 * MiB
TOKEN_REUSE_S = 200.0


def _with_digest(location: str, digest: str) -> str:
    """Add ?digest= to an upload URL, keeping the state some registries carry in its query."""
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


class Session:
    """An HTTP client for one server that gets registry tokens as docker does: the realm and the
    service from the challenge of an unauthenticated GET /v2/, then a GET of the realm with Basic
    credentials and the scopes. `auth` caches a token per set of scopes (for set-up work);
    `fetch_token` always asks for a new one."""

    def __init__(self, server: Server) -> None:
        self.server = server
        verify = str(server.ca) if server.ca else True
        self.http = httpx.Client(base_url=server.url, timeout=300, verify=verify)
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._challenge: dict[str, str] | None = None

    def repo(self, name: str) -> str:
        return f"{self.server.namespace}/{name}"

    def challenge(self) -> dict[str, str]:
        """realm and service, or {} for a registry that asks for no authentication."""
        if self._challenge is None:
            r = self.http.get("/v2/")
            self._challenge = (
                parse_challenge(r.headers.get("WWW-Authenticate", "")) if r.status_code == 401 else {}
            )
            if r.status_code == 401 and "realm" not in self._challenge:
                raise RuntimeError(f"401 without a Bearer challenge: {r.headers}")
        return self._challenge

    def fetch_token(self, *scopes: str, user: str | None = None, password: str | None = None) -> str | None:
        """A new token for `scopes` (None when the registry needs none)."""
        c = self.challenge()
        if not c:
            return None
        r = self.http.get(
            c["realm"],
            params=[("service", c.get("service", "")), *[("scope", s) for s in scopes]],
            headers={"Authorization": basic(user or self.server.username, password or self.server.password)},
        )
        r.raise_for_status()
        body = r.json()
        return str(body.get("token") or body["access_token"])

    def bearer(self, *scopes: str) -> dict[str, str]:
        """Headers with a new token for `scopes`."""
        token = self.fetch_token(*scopes)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def auth(self, *scopes: str) -> dict[str, str]:
        """Headers with a token for `scopes`, the one fetched before while it is young enough
        (the bench's token server gives 900 s)."""
        key = tuple(sorted(scopes))
        cached = self._tokens.get(key)
        if cached is None or time.monotonic() - cached[1] > TOKEN_REUSE_S:
            token = self.fetch_token(*scopes)
            if token is None:
                return {}
            cached = self._tokens[key] = (token, time.monotonic())
        return {"Authorization": f"Bearer {cached[0]}"}

    def repo_auth(self, repo: str) -> dict[str, str]:
        return self.auth(f"repository:{repo}:pull,push")

    def curl_auth(self, repo: str) -> list[str]:
        return [arg for k, v in self.repo_auth(repo).items() for arg in ("-H", f"{k}: {v}")]

    def start_upload(self, repo: str) -> str:
        r = self.http.post(f"/v2/{repo}/blobs/uploads/", headers=self.repo_auth(repo))
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        return location if location.startswith("http") else self.server.url + location

    def push_bytes(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = self.start_upload(repo)
        r = self.http.put(_with_digest(location, digest), content=data, headers=self.repo_auth(repo))
        assert r.status_code == 201, r.text
        return digest

    def put_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str:
        body = json.dumps(manifest).encode()
        r = self.http.put(
            f"/v2/{repo}/manifests/{ref}",
            content=body,
            headers={**self.repo_auth(repo), "Content-Type": manifest["mediaType"]},
        )
        assert r.status_code == 201, r.text
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def image(self, repo: str, layers: list[bytes]) -> dict[str, Any]:
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
        return {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.push_bytes(repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": self.push_bytes(repo, data),
                    "size": len(data),
                }
                for data in layers
            ],
        }


def random_file(path: Path, size: int) -> tuple[Path, str]:
    h = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            f.write(block)
            h.update(block)
            left -= len(block)
    return path, "sha256:" + h.hexdigest()


def push_monolithic(s: Session, blob: tuple[Path, str]) -> float:
    """MiB/s of one PUT carrying the whole blob (POST then PUT, which every registry supports)."""
    path, digest = blob
    repo = s.repo("mono")
    location = s.start_upload(repo)
    t = time.perf_counter()
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            *s.curl_auth(repo),
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
            str(path),
            _with_digest(location, digest),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - t
    assert out.stdout == "201", out
    return path.stat().st_size / MiB / elapsed


def push_chunked(s: Session, blob: tuple[Path, str]) -> float:
    """MiB/s of POST, PATCH per 8 MiB chunk with Content-Range, PUT."""
    path, digest = blob
    repo = s.repo("chunked")
    h = s.repo_auth(repo)
    t = time.perf_counter()
    location = s.start_upload(repo)
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            r = s.http.patch(
                location,
                content=chunk,
                headers={
                    **h,
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            assert r.status_code == 202, r.text
            offset += len(chunk)
            location = r.headers["Location"]
            location = location if location.startswith("http") else s.server.url + location
    r = s.http.put(_with_digest(location, digest), headers=h)
    assert r.status_code == 201, r.text
    return offset / MiB / (time.perf_counter() - t)


def pull_blob(s: Session, blob: tuple[Path, str], repeats: int = 3) -> float:
    """MiB/s of the best of `repeats` GETs, counting the redirect to the object store if any."""
    path, digest = blob
    size = path.stat().st_size
    repo = s.repo("mono")
    best = 0.0
    for _ in range(repeats):
        out = subprocess.run(
            [
                "curl",
                "-sS",
                "-f",
                "-L",  # registries on object storage redirect blob GETs to the store
                "-o",
                "/dev/null",
                "-w",
                "%{size_download} %{time_total}",
                *s.curl_auth(repo),
                f"{s.server.url}/v2/{repo}/blobs/{digest}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        # size_download counts the last response only: a 307 answer's body is left out
        received, seconds = out.stdout.split()
        assert int(received) == size, out
        best = max(best, size / MiB / float(seconds))
    return best


def manifest_puts(s: Session, count: int, threads: int = 8, name: str = "manifests") -> float:
    """Manifest PUTs per second, distinct manifests on distinct tags, from `threads` clients."""
    repo = s.repo(name)
    base = s.image(repo, [os.urandom(1024)])
    s.repo_auth(repo)

    def work(i: int) -> None:
        with httpx.Client(base_url=s.server.url, timeout=60) as c:
            for j in range(i, count, threads):
                body = json.dumps({**base, "annotations": {"n": str(j)}}).encode()
                r = c.put(
                    f"/v2/{repo}/manifests/t{j}",
                    content=body,
                    headers={**s.repo_auth(repo), "Content-Type": base["mediaType"]},
                )
                assert r.status_code == 201, r.text

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return count / (time.perf_counter() - t)


def _wrk_command(
    url: str, headers: dict[str, str], seconds: int, connections: int, threads: int = 2
) -> list[str]:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    return [*args, url]


def _wrk_result(out: str) -> tuple[float, int]:
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m is None or done is None or non2xx:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(m[1]), int(done[1])


def wrk_run(url: str, headers: dict[str, str], seconds: int, connections: int = 32) -> tuple[float, int]:
    """Requests/s and the number of requests wrk completed."""
    cmd = _wrk_command(url, headers, seconds, connections)
    return _wrk_result(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def wrk_together(
    targets: list[tuple[str, dict[str, str]]], seconds: int, connections: int = 32
) -> list[tuple[float, int]]:
    """wrk_run's figures for each (url, headers), with one wrk per target running at the same time."""
    procs = [
        subprocess.Popen(
            _wrk_command(url, h, seconds, connections, threads=1), stdout=subprocess.PIPE, text=True
        )
        for url, h in targets
    ]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"wrk failed:\n{outs}")
    return [_wrk_result(out) for out in outs]


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int = 32) -> float:
    return wrk_run(url, headers, seconds, connections)[0]


class ManifestUrls(NamedTuple):
    by_tag: str
    by_digest: str
    headers: dict[str, str]

    def url(self, by_digest: bool) -> str:
        return self.by_digest if by_digest else self.by_tag


def manifest_get_targets(s: Session) -> ManifestUrls:
    """Push the manifest the GET scenarios read: its URLs by tag and by digest, and the headers."""
    repo = s.repo("gets")
    digest = s.put_manifest(repo, "latest", s.image(repo, [os.urandom(1024)]))
    base = f"{s.server.url}/v2/{repo}/manifests"
    return ManifestUrls(f"{base}/latest", f"{base}/{digest}", {**s.repo_auth(repo), "Accept": OCI_MANIFEST})


def metered_manifest_gets(s: Session, seconds: int) -> list[tuple[float, float]]:
    """For GET manifest by tag, then by digest (32 connections): requests/s and the server's own
    CPU per request in µs (its process tree only: not the database's or the object store's, which
    a node would have on other machines)."""
    t = manifest_get_targets(s)
    out = []
    for url in (t.by_tag, t.by_digest):
        before = s.server.cpu_seconds()
        rate, done = wrk_run(url, t.headers, seconds)
        out.append((rate, (s.server.cpu_seconds() - before) / done * 1e6))
    return out


def populate_tags(s: Session, count: int, threads: int = 8) -> str:
    repo = s.repo("tags")
    manifest = s.image(repo, [os.urandom(512)])
    body = json.dumps(manifest).encode()

    def work(i: int) -> None:
        with httpx.Client(base_url=s.server.url, timeout=60) as c:
            for j in range(i, count, threads):
                r = c.put(
                    f"/v2/{repo}/manifests/tag{j:05d}",
                    content=body,
                    headers={**s.repo_auth(repo), "Content-Type": manifest["mediaType"]},
                )
                assert r.status_code == 201, r.text

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return repo


def _walk(s: Session, first: str, headers: dict[str, str], key: str) -> int:
    url: str | None = first
    seen = 0
    while url:
        r = s.http.get(url, headers=headers)
        assert r.status_code == 200, r.text
        seen += len(r.json()[key] or [])
        link = r.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
    return seen


def list_tags(s: Session, repo: str, count: int, repeats: int = 5) -> tuple[float, float]:
    """Milliseconds (lower is better) for one full listing, and for a walk in pages of 100."""
    h = s.repo_auth(repo)
    t = time.perf_counter()
    for _ in range(repeats):
        r = s.http.get(f"/v2/{repo}/tags/list", params={"n": count}, headers=h)
        assert len(r.json()["tags"]) == count, len(r.json()["tags"])
    full = (time.perf_counter() - t) / repeats * 1000
    t = time.perf_counter()
    assert _walk(s, f"/v2/{repo}/tags/list?n=100", h, "tags") == count
    return full, (time.perf_counter() - t) * 1000


def populate_catalog(s: Session, count: int, threads: int = 8) -> None:
    names = [s.repo(f"cat/r{i:04d}") for i in range(count)]
    if s.server.needs_auth:  # one token for many repositories, as a client pushing many would hold
        for i in range(0, count, 50):
            s.auth(*[f"repository:{n}:pull,push" for n in names[i : i + 50]])

    def work(i: int) -> None:
        with httpx.Client(base_url=s.server.url, timeout=60) as c:
            for j in range(i, count, threads):
                repo = names[j]
                scopes = [f"repository:{n}:pull,push" for n in names[(j // 50) * 50 : (j // 50) * 50 + 50]]
                h = s.auth(*scopes)
                r = c.post(f"/v2/{repo}/blobs/uploads/", headers=h)
                location = r.headers["Location"]
                data = f"catalog {j}".encode()
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                r = c.put(_with_digest(location, digest), content=data, headers=h)
                assert r.status_code == 201, r.text

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))


def walk_catalog(s: Session, count: int) -> float:
    """Milliseconds (lower is better) to walk the whole catalog in pages of 100."""
    h = s.auth("registry:catalog:*")
    t = time.perf_counter()
    seen = _walk(s, "/v2/_catalog?n=100", h, "repositories")
    assert seen >= count, seen
    return (time.perf_counter() - t) * 1000


def concurrent_image_pulls(s: Session, clients: int, layer_size: int) -> float:
    """Aggregate MiB/s when `clients` clients each pull the manifest and 3 layers at once."""
    repo = s.repo("pull3")
    digest = s.put_manifest(repo, "v1", s.image(repo, [os.urandom(layer_size) for _ in range(3)]))
    r = s.http.get(f"/v2/{repo}/manifests/{digest}", headers={**s.repo_auth(repo), "Accept": OCI_MANIFEST})
    layers = [layer["digest"] for layer in r.json()["layers"]]
    urls = [f"{s.server.url}/v2/{repo}/manifests/{digest}"] + [
        f"{s.server.url}/v2/{repo}/blobs/{d}" for d in layers
    ]
    cmd = [
        "curl",
        "-sS",
        "-f",
        "-L",  # follows the redirects to the object store; the token stays with the registry's host
        *s.curl_auth(repo),
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
    ]
    for u in urls:
        cmd += ["-o", "/dev/null", u]
    t = time.perf_counter()
    procs = [subprocess.Popen(cmd) for _ in range(clients)]
    assert all(p.wait() == 0 for p in procs)
    return clients * 3 * layer_size / MiB / (time.perf_counter() - t)


def count_log_entries(s: Session, name: str, kind: str) -> int:
    """Entries of `kind` in the usage logs of repository `name` over the last day, as the API
    counts them (GET .../aggregatelogs, signed in as admin)."""
    with httpx.Client(base_url=s.server.url, timeout=60) as c:
        # As Quay: sign-in needs the CSRF token that /csrf_token hands out (with its cookie) first.
        csrf = c.get("/csrf_token").json()["csrf_token"]
        r = c.post(
            "/api/v1/signin",
            json={"username": "admin", "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200, r.text
        r = c.get(f"/api/v1/repository/{s.repo(name)}/aggregatelogs")
        assert r.status_code == 200, r.text
        return sum(a["count"] for a in r.json()["aggregated"] if a["kind"] == kind)


def settled_log_count(s: Session, name: str, kind: str, interval: float = 1.5) -> int:
    """count_log_entries once it stops changing: pull entries are written in batches every second."""
    last = count_log_entries(s, name, kind)
    for _ in range(20):
        time.sleep(interval)
        now = count_log_entries(s, name, kind)
        if now == last:
            return now
        last = now
    return last

"""Clients that use a registry as docker does, many at once, on the minimal client of bench/http1.py.

Every image operation starts as a `docker pull` or `docker push` does: GET /v2/ without
credentials, the `WWW-Authenticate` challenge of its 401 names the realm and the service, then a
GET of the realm with Basic credentials and the repository's scope gives the token for that one
operation. A push HEADs each blob first (docker skips blobs the registry has), uploads it with a
POST and one PUT carrying the body, then PUTs the manifest. A pull GETs the manifest by tag, then
each blob, following redirects, and checks each blob's length.

A `Job` says what a group of clients does; `run` runs it in this process or spread over several
processes (each with its share of the clients and of the items), started before the clock.
Clients are coroutines with keep-alive connections of their own, on uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import multiprocessing as mp
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any, Literal
from urllib.parse import quote

from bench import http1

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = ", ".join([OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"])
EXAMPLES = 10


class Failed(Exception):
    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.detail = detail


def _check(r: http1.Response, what: str, ok: tuple[int, ...] = ()) -> None:
    if r.status not in ok and not 200 <= r.status < 400:
        raise Failed(f"{what} {r.status}", f"{r.method} {r.url}: {r.text[:300]!r}")


def parse_challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",...` challenge."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', params)}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Registry:
    """One client of one registry: its connections and its credentials."""

    def __init__(self, c: http1.Client, user: str, password: str) -> None:
        self.c = c
        self.user = user
        self.password = password
        self.challenge: dict[str, str] | None = None

    async def ping(self) -> dict[str, str]:
        """GET /v2/ without credentials: the challenge's parameters ({} when none is asked for)."""
        r = await self.c.get("/v2/")
        if r.status == 401:
            self.challenge = parse_challenge(r.headers.get("www-authenticate", ""))
            if "realm" not in self.challenge:
                raise Failed("401 without a Bearer challenge", str(r.headers))
        else:
            _check(r, "GET /v2/")
            self.challenge = {}
        return self.challenge

    async def token(
        self, *scopes: str, user: str | None = None, password: str | None = None
    ) -> dict[str, str]:
        """Headers with a new token for `scopes`, from the realm of the last ping."""
        if self.challenge is None:
            await self.ping()
        assert self.challenge is not None
        if not self.challenge:
            return {}
        query = "&".join(
            [f"service={_quote(self.challenge.get('service', ''))}", *(f"scope={_quote(s)}" for s in scopes)]
        )
        r = await self.c.get(
            f"{self.challenge['realm']}?{query}",
            {"Authorization": basic(user or self.user, password or self.password)},
        )
        _check(r, "token GET")
        body = json.loads(r.body)
        return {"Authorization": f"Bearer {body.get('token') or body['access_token']}"}

    async def session(self, *scopes: str) -> dict[str, str]:
        """What `docker pull` or `docker push` does first: ping, then a token for the repository."""
        await self.ping()
        return await self.token(*scopes)

    async def pull(self, repo: str, ref: str, headers: dict[str, str]) -> int:
        """Manifest by `ref`, then every blob; returns the bytes of the blobs."""
        r = await self.c.get(f"/v2/{repo}/manifests/{ref}", {**headers, "Accept": ACCEPT})
        _check(r, "manifest GET")
        manifest = json.loads(r.body)
        total = 0
        for blob in [manifest["config"], *manifest["layers"]]:
            r = await self.c.get(
                f"/v2/{repo}/blobs/{blob['digest']}", headers, follow_redirects=True, discard=True
            )
            _check(r, "blob GET")
            if r.length != blob["size"]:
                raise Failed("blob GET short", f"{r.url}: {r.length} of {blob['size']} bytes")
            total += r.length
        return total

    async def upload(self, repo: str, data: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """HEAD the blob (docker skips what the registry has), POST an upload, PUT the body."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = await self.c.request("HEAD", f"/v2/{repo}/blobs/{digest}", headers)
        _check(r, "blob HEAD", ok=(404,))
        if r.status != 200:
            r = await self.c.request("POST", f"/v2/{repo}/blobs/uploads/", headers)
            _check(r, "upload POST")
            location = r.headers.get("location")
            if not location:
                raise Failed("upload POST without Location", f"{r.status} {r.headers}")
            sep = "&" if "?" in location else "?"
            r = await self.c.request(
                "PUT",
                f"{location}{sep}digest={digest}",
                {**headers, "Content-Type": "application/octet-stream"},
                data,
            )
            _check(r, "upload PUT")
        return {"digest": digest, "size": len(data)}

    async def push(
        self, repo: str, tag: str, config: bytes, layers: list[bytes], headers: dict[str, str]
    ) -> int:
        """Upload the config and the layers, PUT the manifest; returns the bytes uploaded."""
        config_desc = await self.upload(repo, config, headers)
        layer_descs = [await self.upload(repo, data, headers) for data in layers]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **d} for d in layer_descs
            ],
        }
        r = await self.c.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            {**headers, "Content-Type": OCI_MANIFEST},
            json.dumps(manifest).encode(),
        )
        _check(r, "manifest PUT")
        return len(config) + sum(len(x) for x in layers)


def _quote(value: str) -> str:
    return quote(value, safe=":,/")


def fresh_layers(size: int, payload: bytes) -> list[bytes]:
    """Two layers (a quarter and three quarters of `size`) with content no registry has seen:
    a random prefix on a shared random payload (cheaper than os.urandom for every push)."""
    out = []
    for part in (size // 4, size - size // 4):
        out.append(os.urandom(32) + payload[: max(0, part - 32)])
    return out


def fresh_config(tag: str) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers"},
            "bench": f"{tag} {os.urandom(8).hex()}",
        }
    ).encode()


@dataclass(frozen=True)
class Job:
    """What a group of clients does; sent to client processes, so plain values only.

    op "login": one token per iteration, for `scope` ("{user}" is the user's name); with `items`
    ("user:password" each), every login takes the next user, until they run out.
    op "create": one new repository per item: session (ping, token), then push a small image.
    op "mixed": 3 pulls of one of `pull_repos` for every push of a fresh image of `image_size`
    to the client's repository in `push_repos`, each with a session of its own, until `seconds`.
    """

    op: Literal["login", "create", "mixed"]
    base_url: str
    user: str
    password: str
    clients: int
    seconds: float = 0.0  # 0: until the items run out
    items: tuple[str, ...] = ()
    scope: str = ""
    pull_repos: tuple[str, ...] = ()
    push_repos: tuple[str, ...] = ()
    image_size: int = 0
    first_client: int = 0  # of this process's clients, among all processes'


@dataclass
class Report:
    """What the clients of one process did."""

    done: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    cpu: float = 0.0

    def error(self, key: str, detail: str) -> None:
        self.errors[key] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{key}: {detail}")

    @staticmethod
    def merge(reports: list[Report]) -> Report:
        out = Report(start=min(r.start for r in reports), end=max(r.end for r in reports))
        for r in reports:
            out.done.update(r.done)
            out.errors.update(r.errors)
            out.examples += r.examples
            out.bytes += r.bytes
            out.cpu += r.cpu
        return out

    @property
    def elapsed(self) -> float:
        return self.end - self.start

    def rate(self, *kinds: str) -> float:
        return sum(self.done[k] for k in kinds or self.done) / self.elapsed if self.elapsed > 0 else 0.0


async def _clients(job: Job) -> Report:
    report = Report()
    items = list(reversed(job.items))
    payload = os.urandom(job.image_size) if job.op == "mixed" else b""
    regs = [
        Registry(http1.Client(job.base_url, timeout=120), job.user, job.password) for _ in range(job.clients)
    ]
    if job.op == "login":  # a login client knows the realm already: only token GETs are timed
        await asyncio.gather(*(r.ping() for r in regs))
    report.start = time.monotonic()
    deadline = report.start + (job.seconds or 3600)

    async def one(i: int, reg: Registry) -> None:
        n = 0
        while time.monotonic() < deadline:
            item = ""
            if job.items or job.op == "create":
                if not items:
                    return
                item = items.pop()
            try:
                kind, size = await _step(job, reg, i, n, item, payload)
            except Failed as e:
                report.error(e.key, e.detail)
                await asyncio.sleep(0.1)
            except Exception as e:
                report.error(type(e).__name__, repr(e)[:300])
                await asyncio.sleep(0.1)
            else:
                report.done[kind] += 1
                report.bytes += size
            n += 1

    try:
        await asyncio.gather(*(one(job.first_client + i, reg) for i, reg in enumerate(regs)))
    finally:
        report.end = time.monotonic()
        for reg in regs:
            reg.c.close()
    return report


async def _step(job: Job, reg: Registry, i: int, n: int, item: str, payload: bytes) -> tuple[str, int]:
    if job.op == "login":
        user, password = item.split(":", 1) if item else (job.user, job.password)
        await reg.token(job.scope.format(user=user), user=user, password=password)
        return "login", 0
    if job.op == "create":
        h = await reg.session(f"repository:{item}:pull,push")
        size = await reg.push(item, "latest", fresh_config(item), [os.urandom(4096)], h)
        return "create", size
    if (i + n) % 4 == 0:
        repo = job.push_repos[i % len(job.push_repos)]
        h = await reg.session(f"repository:{repo}:pull,push")
        tag = f"c{i}n{n}"
        size = await reg.push(repo, tag, fresh_config(tag), fresh_layers(job.image_size, payload), h)
        return "push", size
    repo = job.pull_repos[(i + n) % len(job.pull_repos)]
    h = await reg.session(f"repository:{repo}:pull")
    return "pull", await reg.pull(repo, "latest", h)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _in_process(job: Job) -> Report:
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        report = runner.run(_clients(job))
    report.cpu = time.process_time() - cpu
    return report


def _client_process(job: Job, ready: Barrier, out: Connection) -> None:
    ready.wait(120)
    out.send(_in_process(job))
    out.close()


def run(job: Job, processes: int = 0) -> Report:
    """`job` in this process (processes=0) or split over `processes` client processes."""
    if processes <= 0:
        return _in_process(job)
    jobs = []
    first = 0
    for k in range(processes):
        clients = job.clients // processes + (1 if k < job.clients % processes else 0)
        jobs.append(replace(job, clients=clients, items=job.items[k::processes], first_client=first))
        first += clients
    ctx = mp.get_context("spawn")  # no fork of a process that runs threads (the memory watchers)
    ready = ctx.Barrier(len(jobs) + 1)
    procs, pipes = [], []
    for j in jobs:
        receive, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_client_process, args=(j, ready, send), daemon=True)
        p.start()
        send.close()
        procs.append(p)
        pipes.append(receive)
    try:
        ready.wait(120)
        try:
            reports: list[Report] = [pipe.recv() for pipe in pipes]
        except EOFError:
            raise RuntimeError("a client process died (its traceback is above)") from None
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    return Report.merge(reports)


async def gather_limited(n: int, coros: list[Callable[[], Awaitable[None]]]) -> None:
    """Run the coroutine factories with at most `n` at a time."""
    sem = asyncio.Semaphore(n)

    async def one(f: Callable[[], Awaitable[None]]) -> None:
        async with sem:
            await f()

    await asyncio.gather(*(one(f) for f in coros))

"""The load scenario: 64 clients pull one image over and over while 8 push distinct images.

A pull is a manifest GET by tag, then a GET of each blob (config and layers) one after the
other, following redirects to the object store. A push uploads two fresh blobs (POST, then one
PUT with the body, as in the monolithic push scenario) and PUTs a manifest under a new tag.
Latency is that of a whole pull or push.

The clients are coroutines with keep-alive connections of their own (bench/http1.py, on uvloop),
in separate processes: pullers in PULL_PROCESSES, pushers in one. They share the machine's cores
with the server, so the report says how much CPU they took next to the server's.

An error is any exception or a final status outside 2xx/3xx, or a blob that did not arrive
whole. A client that saw one waits ERROR_PAUSE_S before its next try, so that a failing server
is not hammered in a tight loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any, Literal

from bench import http1
from bench import scenarios as sc
from bench.servers import Server

PULLERS = 64
PUSHERS = 8
PULL_PROCESSES = 2
SECONDS = 60.0
QUICK_SECONDS = 15.0
KiB = 1024
PULL_LAYERS = (64 * KiB, 512 * KiB)
PUSH_LAYER = 64 * KiB
ERROR_PAUSE_S = 0.1
EXAMPLES = 20  # error details kept per client process; all errors are counted
ACCEPT = ", ".join([sc.OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"])


@dataclass(frozen=True)
class Plan:
    """What one client process does; sent to it, so plain values only."""

    kind: Literal["pull", "push"]
    base_url: str
    headers: dict[str, str]
    clients: int
    seconds: float
    pull_repo: str = ""
    push_repos: tuple[str, ...] = ()


@dataclass
class Report:
    """What one client process measured: the latency of each completed operation, and errors."""

    kind: Literal["pull", "push"]
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float = 0.0

    def error(self, key: str, detail: str) -> None:
        self.errors[key] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{key}: {detail}")


class Failed(Exception):
    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.detail = detail


def _check(r: http1.Response, what: str, base_url: str) -> None:
    if not 200 <= r.status < 400:
        where = "" if r.url.startswith(base_url) else " (object store)"
        raise Failed(f"{what}{where} {r.status}", f"{r.method} {r.url}: {r.text[:300]!r}")


async def _pull(c: http1.Client, plan: Plan) -> None:
    r = await c.get(f"/v2/{plan.pull_repo}/manifests/latest", headers={**plan.headers, "Accept": ACCEPT})
    _check(r, "manifest GET", plan.base_url)
    manifest = json.loads(r.body)
    for blob in [manifest["config"], *manifest["layers"]]:
        r = await c.get(
            f"/v2/{plan.pull_repo}/blobs/{blob['digest']}", headers=plan.headers, follow_redirects=True
        )
        _check(r, "blob GET", plan.base_url)
        if len(r.body) != blob["size"]:
            raise Failed("blob GET short", f"{r.url}: {len(r.body)} of {blob['size']} bytes")


async def _upload(c: http1.Client, plan: Plan, repo: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await c.request("POST", f"/v2/{repo}/blobs/uploads/", plan.headers)
    _check(r, "upload POST", plan.base_url)
    location = r.headers.get("location")
    if not location:
        raise Failed("upload POST without Location", f"{r.status} {r.headers}")
    r = await c.request(
        "PUT",
        sc._with_digest(location, digest),
        {**plan.headers, "Content-Type": "application/octet-stream"},
        data,
    )
    _check(r, "upload PUT", plan.base_url)
    return {"digest": digest, "size": len(data)}


async def _push(c: http1.Client, plan: Plan, repo: str, n: int) -> None:
    # Fresh content each time, so that every push stores new blobs and a new manifest.
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "bench": f"{repo} {n} {os.urandom(8).hex()}"}
    )
    layer = os.urandom(PUSH_LAYER)
    config_desc = await _upload(c, plan, repo, config.encode())
    layer_desc = await _upload(c, plan, repo, layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": sc.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}],
    }
    r = await c.request(
        "PUT",
        f"/v2/{repo}/manifests/p{n}",
        {**plan.headers, "Content-Type": sc.OCI_MANIFEST},
        json.dumps(manifest).encode(),
    )
    _check(r, "manifest PUT", plan.base_url)


async def _clients(plan: Plan) -> Report:
    report = Report(plan.kind)
    start = time.monotonic()
    deadline = start + plan.seconds

    async def one(i: int) -> None:
        # Connections of its own for each client, as separate machines would have.
        async with http1.Client(plan.base_url) as c:
            n = 0
            while time.monotonic() < deadline:
                t = time.perf_counter()
                try:
                    if plan.kind == "pull":
                        await _pull(c, plan)
                    else:
                        await _push(c, plan, plan.push_repos[i % len(plan.push_repos)], n)
                        n += 1
                except Failed as e:
                    report.error(e.key, e.detail)
                    await asyncio.sleep(ERROR_PAUSE_S)
                    continue
                except Exception as e:
                    report.error(type(e).__name__, repr(e)[:300])
                    await asyncio.sleep(ERROR_PAUSE_S)
                    continue
                report.latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(one(i) for i in range(plan.clients)))
    report.elapsed = time.monotonic() - start
    return report


def _client_process(plan: Plan, ready: Barrier, out: Connection) -> None:
    """The body of a client process: wait until every process is ready, run, send the report."""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    ready.wait(120)
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        report = runner.run(_clients(plan))
    report.cpu = time.process_time() - cpu
    out.send(report)
    out.close()


@dataclass
class Result:
    """The load scenario on one server."""

    server: str
    seconds: float
    pulls: list[float]
    pushes: list[float]
    errors: Counter[str]
    examples: list[str]
    cpu: dict[str, float]  # CPU seconds during the load: the server, its backends, the clients

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def rate(self, kind: Literal["pull", "push"]) -> float:
        return len(self.pulls if kind == "pull" else self.pushes) / self.seconds

    def latency_ms(self, kind: Literal["pull", "push"], q: float) -> float:
        return percentile(self.pulls if kind == "pull" else self.pushes, q) * 1000


def percentile(values: list[float], q: float) -> float:
    """The smallest value at or above a fraction q of the values (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    # Rounded first, so that 0.99 * 100 counts as 99 even where the product is 99.00000000000001.
    rank = max(1, math.ceil(round(len(ordered) * q, 6)))
    return ordered[rank - 1]


def run(server: Server, seconds: float, meters: dict[str, Callable[[], float]]) -> Result:
    """The load scenario against one server. `meters` read cumulative CPU seconds (the server's
    and its backends') before and after."""
    s = sc.Session(server)
    pull_repo = s.repo("load-pull")
    push_repos = tuple(s.repo(f"load-push{i}") for i in range(PUSHERS))
    s.put_manifest(pull_repo, "latest", s.image(pull_repo, [os.urandom(n) for n in PULL_LAYERS]))
    # One token for every repository the clients touch, as a client holding one token would.
    headers = s.auth(f"repository:{pull_repo}:pull", *(f"repository:{r}:pull,push" for r in push_repos))
    plans = [
        Plan("pull", server.url, headers, n, seconds, pull_repo=pull_repo)
        for n in _split(PULLERS, PULL_PROCESSES)
    ]
    plans.append(Plan("push", server.url, headers, PUSHERS, seconds, push_repos=push_repos))
    # A pull and a push before the clock starts: a server that cannot serve them fails here,
    # with its answer, rather than with thousands of errors.
    asyncio.run(_smoke(plans[0], plans[-1]))

    ctx = mp.get_context("spawn")  # no fork of a process that runs threads (the memory watcher)
    ready = ctx.Barrier(len(plans) + 1)
    procs, pipes = [], []
    for plan in plans:
        receive, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_client_process, args=(plan, ready, send), daemon=True)
        p.start()
        send.close()
        procs.append(p)
        pipes.append(receive)
    try:
        ready.wait(120)
        before = {k: m() for k, m in meters.items()}
        try:
            reports: list[Report] = [pipe.recv() for pipe in pipes]
        except EOFError:
            raise RuntimeError("a load client process died (its traceback is above)") from None
        used = {k: m() - before[k] for k, m in meters.items()}
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r.errors)
    used["clients"] = sum(r.cpu for r in reports)
    return Result(
        server=server.name,
        seconds=max(r.elapsed for r in reports),
        pulls=[t for r in reports if r.kind == "pull" for t in r.latencies],
        pushes=[t for r in reports if r.kind == "push" for t in r.latencies],
        errors=errors,
        examples=[e for r in reports for e in r.examples],
        cpu=used,
    )


async def _smoke(pull: Plan, push: Plan) -> None:
    async with http1.Client(pull.base_url) as c:
        try:
            await _pull(c, pull)
            await _push(c, push, push.push_repos[0], -1)
        except Failed as e:
            raise RuntimeError(f"the load scenario's first pull or push failed: {e}") from None


def _split(total: int, parts: int) -> list[int]:
    """How many of `total` clients each of `parts` processes runs, as evenly as they go."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run_all(servers: list[Server], seconds: float) -> list[Result]:
    """The load scenario against each server in turn, with the server's and its backends' CPU."""
    results = []
    for s in servers:
        print(f"  load, {seconds:.0f} s: {s.name}...", file=sys.stderr, flush=True)
        with s.metered():
            results.append(run(s, seconds, {"server": s.cpu_seconds, **s.backends}))
    return results


def render(results: list[Result], labels: dict[str, str], seconds: float) -> str:
    """The load table: one row per server."""
    backends = sorted({k for r in results for k in r.cpu if k not in ("server", "clients")})
    columns = ["server", *backends, "clients"]
    image = f"{_size(sum(PULL_LAYERS))} image (manifest, config, {len(PULL_LAYERS)} layers)"
    lines = [
        f"{PULLERS} clients pull a {image} while {PUSHERS} push distinct {_size(PUSH_LAYER)} images, "
        f"for {seconds:.0f} s per server. CPU: seconds used during the load.",
        "",
        "| server | errors | pulls/s | pull p50 ms | pull p99 ms | pushes/s | push p50 ms | push p99 ms "
        f"| CPU s ({' + '.join(columns)}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        cpu = " + ".join(f"{r.cpu[k]:.0f}" if k in r.cpu else "-" for k in columns)
        lines.append(
            f"| {labels.get(r.server, r.server)} | {r.error_count} | {r.rate('pull'):,.1f} "
            f"| {r.latency_ms('pull', 0.5):,.0f} | {r.latency_ms('pull', 0.99):,.0f} "
            f"| {r.rate('push'):,.1f} | {r.latency_ms('push', 0.5):,.0f} | {r.latency_ms('push', 0.99):,.0f} "
            f"| {cpu} |"
        )
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / sc.MiB:.1f} MiB" if n >= sc.MiB else f"{n // KiB} KiB"


def failures(results: list[Result]) -> str | None:
    """Every error, by server and kind, with the examples kept; None when there were none."""
    lines = []
    for r in results:
        if not r.errors:
            continue
        lines.append(f"{r.server}: {r.error_count} errors")
        lines += [f"  {n} x {key}" for key, n in r.errors.most_common()]
        lines += [f"    e.g. {e}" for e in r.examples]
    return "\n".join(lines) if lines else None

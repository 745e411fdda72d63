"""Proxy-cache organizations (issue 18): what a pull through the cache costs.

    python -m bench.proxy_cache [--quick] [--runs N] [--layer-mib N] [--tls] [--markdown FILE]
                                [--parallel N] [--link-mbit N --link-rtt-ms M]

Starts CNCF distribution behind the bench's token server (bench/servers.py), as the upstream, and
a `wharf serve` on its embedded defaults (SQLite, one process) with FEATURE_PROXY_CACHE on,
FEATURE_SECURITY_SCANNER off and 127.0.0.1 allowed as an upstream. The organization `cache` is a
proxy cache of distribution, with the token server's user as its login.

Set-up, untimed: per run, a new image (a config and 3 random layers of --layer-mib MiB) pushed to
distribution as `bench/img-RUN`, and an image of the same size pushed to Wharf as `admin/plain-RUN`.
With --tls, distribution answers on HTTPS (a self-signed certificate for 127.0.0.1, which Wharf
trusts through SSL_CERT_FILE), and the organization's upstream is not `insecure`.

With --link-mbit and --link-rtt-ms, the upstream is remote, as Docker Hub or quay.io are: an
emulated WAN link (bench/link.py, a relay of its own process: that bandwidth each way, shared by
all connections, and that round trip) stands between distribution with its token server and
everyone who calls them, the direct client and Wharf alike. The organization's upstream is the
relay's port, and distribution's token realm names the relay's other port, so that Wharf's token
requests cross the link too. The client's requests to Wharf stay on loopback (a registry near
its clients); the set-up's pushes to distribution too.

In each of --runs runs, one client pulls an image as docker does (a new token from the registry's
realm, the manifest, then the blobs, one after the other or --parallel at a time, read to the end
and dropped):

1. **direct**: `bench/img-RUN` from distribution;
2. **cold**: `cache/bench/img-RUN` from Wharf, which fetches the manifest and every layer from
   distribution while it sends them (its own token dance with distribution's token server included);
3. **warm**: the same again, now from Wharf's cache (the tag is fresh: no upstream request);
4. **plain**: `admin/plain-RUN`, an image pushed to Wharf.

Two rows: cold against direct, warm against plain; each the median (and range) over the runs of
the pull's time and MiB/s, and the ratio paired run by run (above 1.0: the proxy pull was faster).
Then the CPU each kind of pull cost Wharf's process and distribution with its token server (from
the scheduler's nanosecond counts of their threads; the first run, which pays imports, left out):
on a busy machine the robust figure. Last, where each kind of pull's time went as the client saw
it (PHASES: on a link, the cold pull's extra time is waits, not bytes). Prints Markdown tables;
nothing asserts. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Final, NamedTuple

import httpx

from bench.link import LinkProcess, start_link
from bench.scenarios import OCI_MANIFEST, MiB, Session
from bench.servers import PASSWORD, Server, free_port, start_distribution, start_wharf

ORG: Final = "cache"
LAYERS: Final = 3
ACCEPT: Final = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def make_cache_org(wharf: Server, upstream: Server) -> None:
    """The organization and its proxy-cache configuration, through Quay's API as admin."""
    with httpx.Client(base_url=wharf.url, timeout=60) as c:
        csrf = c.get("/csrf_token").json()["csrf_token"]
        r = c.post(
            "/api/v1/signin",
            json={"username": "admin", "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200, r.text
        csrf = r.headers.get("X-Next-CSRF-Token", csrf)
        headers = {"X-CSRF-Token": csrf}
        r = c.post("/api/v1/organization/", json={"name": ORG}, headers=headers)
        assert r.status_code == 201, r.text
        config = {
            "upstream_registry": upstream.host,
            "upstream_registry_username": upstream.username,
            "upstream_registry_password": upstream.password,
            "insecure": upstream.ca is None,
        }
        r = c.post(f"/api/v1/organization/{ORG}/proxycache", json=config, headers=headers)
        assert r.status_code == 201, r.text


def push_image(s: Session, repo: str, layer_bytes: int) -> None:
    s.put_manifest(repo, "v1", s.image(repo, [os.urandom(layer_bytes) for _ in range(LAYERS)]))


PHASES: Final = {
    "token": "the token",
    "manifest": "the manifest",
    "headers": "each blob's answer (request to headers)",
    "body": "each blob's body, but its last chunk",
    "last": "each blob's last chunk (the gap before it)",
}
"""Where a pull's time goes, as the client sees it (the blobs' figures summed over the blobs)."""


def _pull_blob(
    s: Session, repo: str, digest: str, headers: dict[str, str]
) -> tuple[int, float, float, float]:
    """(bytes, seconds to the answer's headers, to the chunk before the last, to the last)."""
    start = time.perf_counter()
    with s.http.stream("GET", f"/v2/{repo}/blobs/{digest}", headers=headers) as blob:
        assert blob.status_code == 200, blob.read()
        answered = previous = last = time.perf_counter()
        received = 0
        for chunk in blob.iter_raw():
            received += len(chunk)
            previous, last = last, time.perf_counter()
    assert received > 0
    return received, answered - start, previous - answered, last - previous


def pull_image(s: Session, repo: str, parallel: int = 1) -> tuple[float, int, dict[str, float]]:
    """Pull `repo:v1` as docker does: a token, the manifest, then the blobs, `parallel` at a time
    (docker: 3; 1: one after another); (seconds, bytes received, PHASES)."""
    t = time.perf_counter()
    phases = dict.fromkeys(PHASES, 0.0)
    headers = s.bearer(f"repository:{repo}:pull")
    phases["token"] = (mark := time.perf_counter()) - t
    r = s.http.get(f"/v2/{repo}/manifests/v1", headers={**headers, "Accept": ACCEPT})
    assert r.status_code == 200, r.text
    manifest = r.json()
    phases["manifest"] = time.perf_counter() - mark
    digests = [d["digest"] for d in [manifest["config"], *manifest["layers"]]]
    with ThreadPoolExecutor(parallel) as pool:
        blobs = list(pool.map(lambda digest: _pull_blob(s, repo, digest, headers), digests))
    for _, *times in blobs:
        for phase, seconds in zip(("headers", "body", "last"), times, strict=True):
            phases[phase] += seconds
    return time.perf_counter() - t, sum(b[0] for b in blobs), phases


KINDS: Final = {
    "direct": "direct pull from the upstream (distribution)",
    "cold": "cold pull through the proxy cache",
    "warm": "warm pull through the proxy cache",
    "plain": "plain Wharf pull (a pushed image)",
}


class Pull(NamedTuple):
    seconds: float
    received: int
    wharf_cpu: float
    upstream_cpu: float
    """distribution's and its token server's."""
    phases: dict[str, float]


def _cpu(server: Server) -> float:
    """CPU seconds of the server's processes (and its backends, the token server): from the
    scheduler's nanosecond counts of every live thread (/proc/PID/task/TID/schedstat) where
    there are some, since the 10 ms ticks psutil reads are as large as a small pull's figures."""
    pids = [server.proc.pid]
    if server.token_auth is not None:
        pids.append(server.token_auth.proc.pid)
    try:
        return sum(_schedstat_s(pid) for pid in pids)
    except OSError:
        return server.cpu_seconds() + sum(m() for m in server.backends.values())


def _schedstat_s(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _metered(
    wharf: Server, upstream: Server, pull: Callable[[], tuple[float, int, dict[str, float]]]
) -> Pull:
    """The pull, with what each server's processes spent on it (psutil's CPU times: the figure
    that holds on a busy machine, where the wall clock mostly measures the other processes)."""
    w0, u0 = _cpu(wharf), _cpu(upstream)
    seconds, received, phases = pull()
    return Pull(seconds, received, _cpu(wharf) - w0, _cpu(upstream) - u0, phases)


def runs_on(
    wharf: Server, upstream: Server, runs: int, far: Server | None = None, parallel: int = 1
) -> dict[str, list[Pull]]:
    """`far`: the upstream as the direct client reaches it (through the link), when not `upstream`."""
    w, u = Session(wharf), Session(far or upstream)
    figures: dict[str, list[Pull]] = {k: [] for k in KINDS}
    repos = {
        "direct": (u, "bench/img-{}"),
        "cold": (w, f"{ORG}/bench/img-{{}}"),
        "warm": (w, f"{ORG}/bench/img-{{}}"),
        "plain": (w, "admin/plain-{}"),
    }
    for run in range(runs):
        for kind, (session, repo) in repos.items():
            pull = partial(pull_image, session, repo.format(run), parallel)
            figures[kind].append(_metered(wharf, upstream, pull))
        done = ", ".join(
            f"{k} {figures[k][-1][0] * 1000:.0f} ms (CPU wharf {figures[k][-1][2] * 1000:.0f} ms, "
            f"upstream {figures[k][-1][3] * 1000:.0f} ms)"
            for k in KINDS
        )
        print(f"  run {run + 1}: {done}", flush=True)
    return figures


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def render(header: str, figures: dict[str, list[Pull]], layer_mib: int, parallel: int = 1) -> str:
    runs = len(figures["direct"])
    how = "one after another" if parallel == 1 else f"{parallel} at a time"
    lines = [
        header,
        "",
        f"One client pulls an image of a config and {LAYERS} layers of {layer_mib} MiB, a token "
        f"fetched first, the blobs {how}; {runs} runs (median, range)",
        "",
        "| pull | time | MiB/s | against | its time | its MiB/s | ratio (time) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for kind, baseline in (("cold", "direct"), ("warm", "plain")):
        ours, theirs = figures[kind], figures[baseline]
        ratios = [b[0] / a[0] for a, b in zip(ours, theirs, strict=True)]
        lines.append(
            f"| {KINDS[kind]} | {_spread([f[0] for f in ours], _ms)} "
            f"| {_spread([f[1] / MiB / f[0] for f in ours], _one)} | {KINDS[baseline]} "
            f"| {_spread([f[0] for f in theirs], _ms)} "
            f"| {_spread([f[1] / MiB / f[0] for f in theirs], _one)} "
            f"| {_spread(ratios, lambda v: f'{v:.2f}')} |"
        )
    lines += [
        "",
        "CPU per pull (median, range; the first run, which pays imports and warm-up, left out when "
        "there are more than two): Wharf's process, and distribution with its token server",
        "",
        "| pull | Wharf CPU | upstream CPU | both |",
        "|---|---:|---:|---:|",
    ]
    for kind in KINDS:
        kept = figures[kind][1:] if runs > 2 else figures[kind]
        lines.append(
            f"| {KINDS[kind]} | {_spread([f[2] for f in kept], _ms)} "
            f"| {_spread([f[3] for f in kept], _ms)} | {_spread([f[2] + f[3] for f in kept], _ms)} |"
        )
    lines += [
        "",
        "Where the time goes, as the client sees it (median; the blobs' figures summed over the "
        f"{LAYERS + 1} blobs{', which overlap' if parallel > 1 else ''})",
        "",
        "| pull | " + " | ".join(PHASES.values()) + " |",
        "|---|" + "---:|" * len(PHASES),
    ]
    for kind in KINDS:
        medians = [statistics.median(f.phases[p] for f in figures[kind]) for p in PHASES]
        lines.append(f"| {KINDS[kind]} | " + " | ".join(_ms(m) for m in medians) + " |")
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _one(value: float) -> str:
    return f"{value:.1f}"


def _start_upstream(
    root: Path,
    tls: bool,
    link_mbit: float | None,
    link_rtt_ms: float | None,
    running: list[Server | LinkProcess],
) -> tuple[Server, Server, LinkProcess | None]:
    """distribution with its token server, and the link in front of both when there is one (added
    to `running` as they start); (distribution, distribution as its clients reach it, the link)."""
    realm_port = free_port() if link_mbit is not None else None
    upstream = start_distribution(root, tls=tls, token_realm_port=realm_port)
    running.append(upstream)
    if link_mbit is None or link_rtt_ms is None or realm_port is None:
        return upstream, upstream, None
    assert upstream.token_auth is not None
    front = free_port()
    ports = {front: upstream.port, realm_port: upstream.token_auth.port}
    link = start_link(root / "link.log", link_mbit, link_rtt_ms, ports)
    running.append(link)
    return upstream, replace(upstream, port=front), link  # the copy is not stopped: `upstream` is


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.proxy_cache",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="2 MiB layers, 3 runs")
    ap.add_argument("--runs", type=int, default=None, help="runs (default 5; 3 with --quick)")
    ap.add_argument("--layer-mib", type=int, default=None, help="MiB per layer (default 16; 2 with --quick)")
    ap.add_argument(
        "--tls",
        action="store_true",
        help="distribution on HTTPS (a self-signed certificate Wharf trusts through SSL_CERT_FILE)",
    )
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--parallel", type=int, default=1, help="blobs pulled at once (docker: 3; default 1)")
    ap.add_argument("--link-mbit", type=float, help="the upstream behind a link of this bandwidth each way")
    ap.add_argument("--link-rtt-ms", type=float, help="... and this round trip (both or neither)")
    args = ap.parse_args()
    if (args.link_mbit is None) != (args.link_rtt_ms is None):
        ap.error("--link-mbit and --link-rtt-ms go together")
    runs = args.runs or (3 if args.quick else 5)
    layer_mib = args.layer_mib or (2 if args.quick else 16)
    root = Path(tempfile.mkdtemp(prefix="wharf-proxy-cache-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    running: list[Server | LinkProcess] = []
    link: LinkProcess | None = None
    try:
        upstream, far, link = _start_upstream(root, args.tls, args.link_mbit, args.link_rtt_ms, running)
        if upstream.ca is not None:
            os.environ["SSL_CERT_FILE"] = str(upstream.ca)  # for Wharf, started next
        wharf = start_wharf(
            root,
            None,
            "wharf",
            {
                "FEATURE_PROXY_CACHE": "true",
                "FEATURE_SECURITY_SCANNER": "false",
                "SSRF_ALLOWED_HOSTS": '["127.0.0.1"]',
            },
        )
        running.append(wharf)
        make_cache_org(wharf, far)
        u, w = Session(upstream), Session(wharf)
        for run in range(runs):
            push_image(u, f"bench/img-{run}", layer_mib * MiB)
            push_image(w, f"admin/plain-{run}", layer_mib * MiB)
        print(f"set up in {time.perf_counter() - started:.0f} s; pulling...", flush=True)
        figures = runs_on(wharf, upstream, runs, far, args.parallel)
    finally:
        for each in running:
            each.stop()
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True)
    load_after = os.getloadavg()
    header = (
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} at the start "
        f"and {load_after[0]:.1f} at the end; "
        f"the run took {time.perf_counter() - started:.0f} s{' (--quick)' if args.quick else ''}"
        f"{'; distribution on HTTPS (--tls)' if args.tls else ''}"
        f"{f'; the upstream behind an emulated link ({link.describe()})' if link else '; all on loopback'}."
    )
    table = render(header, figures, layer_mib, args.parallel)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()

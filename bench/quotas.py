"""Storage quotas' cost on pushes (issue 17): manifest PUTs with quota enforcement off and on.

    python -m bench.quotas [--quick] [--runs N] [--pushes N] [--markdown FILE]

Starts three `wharf serve` on their embedded defaults (SQLite, one process, jobs inside) in a
temporary directory, all with FEATURE_SECURITY_SCANNER off (indexing would dwarf what is measured):

- **off**: FEATURE_QUOTA_MANAGEMENT off. Sizes are kept all the same (the accounting runs in every
  push's transaction); nothing is checked.
- **far**: FEATURE_QUOTA_MANAGEMENT on, the organization with a 1 TiB quota, Warning at 80 % and
  Reject at 100 %: every push that brings new bytes reads the limits and compares.
- **near**: the same limits, the quota set so that the namespace is above its Warning limit and
  under its Reject limit for the whole run (it starts at about 86 % and ends at about 95 %; the
  quota_warning notification fired when the quota was set, and does not fire again).

Set-up, untimed and the same on every server: an organization `bench`, one image with a big
random layer in it (so that the near server's namespace is mostly full before the runs), and
--retags/10 small images that the re-tag runs point new tags at. Then, in --runs interleaved runs
(the order of the servers reversed every other run), on each server in turn from 4 clients:

1. **New images**: --pushes small images (a config and one 4 KiB random layer, new blobs every
   time), blobs then manifest, into `bench/app`. Every manifest PUT adds new bytes to the
   repository and the namespace: the accounting's path under the per-namespace lock, and with
   enforcement on the limits' check.
2. **Re-tags**: --retags manifest PUTs of images the repository already has, under new tags (the
   cheap path: the blobs are counted already).

Reports, per server, the median (and range) over the runs of pushes/s, of the manifest PUT's
latency, of the server's CPU a push, and the ratio to "off" paired run by run (above 1.0: faster
than off). Prints Markdown tables; nothing asserts. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from bench.scenarios import OCI_MANIFEST, Session
from bench.servers import Server, start_wharf
from wharf.config import load_settings
from wharf.core import accounts, audit, orgs, quotas
from wharf.db.engine import Database, Db

MiB: Final = 1024 * 1024
BY: Final = audit.Actor(None, "admin")
ORG: Final = "bench"
REPO: Final = f"{ORG}/app"
CLIENTS: Final = 4
LAYER_BYTES: Final = 4 * 1024
CONFIG: Final = "application/vnd.oci.image.config.v1+json"
LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
FAR_BYTES: Final = 1024**4
NEAR_START: Final = 0.86
"""How full the near server's namespace is when the runs start."""

VARIANTS: Final = {
    "off": "FEATURE_QUOTA_MANAGEMENT off (sizes kept)",
    "far": "on, quota far from its limits (Warning 80 %, Reject 100 %)",
    "near": "on, namespace above Warning, near (under) Reject",
}

Image = tuple[bytes, bytes, bytes]  # config, layer, manifest


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(note: str, layer: bytes) -> Image:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers"},
            "config": {"Labels": {"n": note}},
        }
    ).encode()
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": _digest(layer), "size": len(layer)}],
        }
    ).encode()
    return config, layer, body


def small_images(count: int, note: str) -> list[Image]:
    return [image(f"{note}-{j}", os.urandom(LAYER_BYTES)) for j in range(count)]


def _bytes(images: list[Image]) -> int:
    return sum(len(config) + len(layer) for config, layer, _ in images)


# Set-up, in the server's database and over /v2 ----------------------------------------------------


def open_db(server: Server, root: Path) -> Database:
    settings = load_settings(None, {"DATA_DIR": root / server.name}, environ={})
    return Database(settings.db_uri.replace("+aiosqlite", ""))


def _create_org(db: Db) -> int:
    admin = accounts.get_by_name(db, "admin")
    assert admin is not None
    return orgs.create(db, ORG, None, admin, BY).id


def _set_quota(db: Db, namespace_id: int, limit_bytes: int) -> None:
    on = quotas.Enforcement(enabled=True)
    quota = quotas.create(db, namespace_id, ORG, limit_bytes, BY, on)
    quotas.create_limit(db, ORG, quota, quotas.WARNING, 80, BY, on)
    quota = quotas.get(db, namespace_id, quota.id)
    quotas.create_limit(db, ORG, quota, quotas.REJECT, 100, BY, on)


def _push_blob(c: httpx.Client, headers: dict[str, str], repo: str, data: bytes) -> None:
    r = c.post(f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    r = c.put(
        f"{location}{'&' if '?' in location else '?'}digest={_digest(data)}", content=data, headers=headers
    )
    assert r.status_code == 201, r.text


def _put_manifest(c: httpx.Client, headers: dict[str, str], repo: str, tag: str, body: bytes) -> float:
    """The manifest PUT's latency in seconds."""
    t = time.perf_counter()
    r = c.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={**headers, "Content-Type": OCI_MANIFEST})
    took = time.perf_counter() - t
    assert r.status_code == 201, r.text
    return took


def push_one(server: Server, repo: str, tag: str, img: Image) -> None:
    headers = Session(server).bearer(f"repository:{repo}:pull,push")
    with httpx.Client(base_url=server.url, timeout=600) as c:
        _push_blob(c, headers, repo, img[0])
        _push_blob(c, headers, repo, img[1])
        _put_manifest(c, headers, repo, tag, img[2])


def set_up(server: Server, db: Database, prefill: int, retag_sources: list[Image], quota: str) -> int:
    """The organization, its big image and the re-tag sources; then its quota. Returns the
    namespace's size when the runs start."""
    namespace_id = db.run_write(_create_org)
    push_one(server, f"{ORG}/base", "big", image("big", os.urandom(prefill)))
    for j, img in enumerate(retag_sources):
        push_one(server, REPO, f"src-{j}", img)
    size = db.run_read(quotas.namespace_size, namespace_id)
    if quota == "far":
        db.run_write(_set_quota, namespace_id, FAR_BYTES)
    elif quota == "near":
        db.run_write(_set_quota, namespace_id, int(size / NEAR_START))
    return size


# The runs ---------------------------------------------------------------------------------------


def _in_parallel(url: str, work: Callable[[int, httpx.Client], list[float]]) -> tuple[float, list[float]]:
    """Run work(client number, its HTTP client) on CLIENTS clients; (seconds, the latencies they
    return)."""

    def client(i: int) -> list[float]:
        with httpx.Client(base_url=url, timeout=120) as c:
            return work(i, c)

    t = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = [x for part in pool.map(client, range(CLIENTS)) for x in part]
    return time.perf_counter() - t, latencies


def tokens(server: Server) -> list[dict[str, str]]:
    """A token for each client, fetched before the clock and the CPU count start (signing in
    hashes a password: it would weigh more than what is measured)."""
    s = Session(server)
    return [s.bearer(f"repository:{REPO}:pull,push") for _ in range(CLIENTS)]


def push_new(
    server: Server, headers: list[dict[str, str]], images: list[Image], run: int
) -> tuple[float, list[float]]:

    def work(i: int, c: httpx.Client) -> list[float]:
        out = []
        for j in range(i, len(images), CLIENTS):
            config, layer, body = images[j]
            _push_blob(c, headers[i], REPO, config)
            _push_blob(c, headers[i], REPO, layer)
            out.append(_put_manifest(c, headers[i], REPO, f"r{run}-{j}", body))
        return out

    took, latencies = _in_parallel(server.url, work)
    return len(images) / took, latencies


def retag(
    server: Server, headers: list[dict[str, str]], sources: list[Image], count: int, run: int
) -> tuple[float, list[float]]:

    def work(i: int, c: httpx.Client) -> list[float]:
        return [
            _put_manifest(c, headers[i], REPO, f"re{run}-{j}", sources[j % len(sources)][2])
            for j in range(i, count, CLIENTS)
        ]

    took, latencies = _in_parallel(server.url, work)
    return count / took, latencies


@dataclass
class Figures:
    """One server's figures for one kind of push, run by run."""

    rates: list[float] = dataclasses.field(default_factory=list)
    latency: list[float] = dataclasses.field(default_factory=list)
    """The median manifest PUT latency of the run, in seconds."""
    cpu: list[float] = dataclasses.field(default_factory=list)
    """The server's CPU seconds a push."""


def measure(into: Figures, server: Server, count: int, run: Callable[[], tuple[float, list[float]]]) -> None:
    before = server.cpu_seconds()
    rate, latencies = run()
    into.cpu.append((server.cpu_seconds() - before) / count)
    into.rates.append(rate)
    into.latency.append(statistics.median(latencies))


def runs_on(
    servers: dict[str, Server], runs: int, images: list[list[Image]], sources: list[Image], retags: int
) -> dict[str, dict[str, Figures]]:
    figures = {name: {"new": Figures(), "retag": Figures()} for name in servers}
    for run in range(runs):
        names = list(servers) if run % 2 == 0 else list(reversed(servers))
        for name in names:
            server, into = servers[name], figures[name]
            headers, new = tokens(server), images[run]
            measure(into["new"], server, len(new), functools.partial(push_new, server, headers, new, run))
            again = functools.partial(retag, server, headers, sources, retags, run)
            measure(into["retag"], server, retags, again)
        done = ", ".join(
            f"{name} {f['new'].rates[-1]:.1f}/s new, {f['retag'].rates[-1]:.1f}/s re-tags"
            for name, f in figures.items()
        )
        print(f"  run {run + 1}: {done}", flush=True)
    return figures


# Output -----------------------------------------------------------------------------------------


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def render(
    header: str, figures: dict[str, dict[str, Figures]], sizes: dict[str, str], count: int, retags: int
) -> str:
    runs = len(figures["off"]["new"].rates)
    lines = [header, ""]
    for kind, title in (
        (
            "new",
            f"**New images**: {count} pushes of a config and a {LAYER_BYTES // 1024} KiB layer (new blobs)",
        ),
        ("retag", f"**Re-tags**: {retags} manifest PUTs of images the repository has, under new tags"),
    ):
        off = figures["off"][kind].rates
        lines += [
            f"{title}, from {CLIENTS} clients, {runs} interleaved runs (median, range)",
            "",
            "| server | namespace at the start | pushes/s | ratio to off | manifest PUT latency "
            "| server CPU a push |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, label in VARIANTS.items():
            f = figures[name][kind]
            ratios = [a / b for a, b in zip(f.rates, off, strict=True)]
            lines.append(
                f"| {label} | {sizes[name]} | {_spread(f.rates, lambda v: f'{v:.1f}')} "
                f"| {_spread(ratios, lambda v: f'{v:.2f}')} | {_spread(f.latency, _ms)} "
                f"| {_spread(f.cpu, _ms)} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.quotas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="60 new images and 120 re-tags a run, 3 runs")
    ap.add_argument("--runs", type=int, default=None, help="interleaved runs (default 5; 3 with --quick)")
    ap.add_argument("--pushes", type=int, default=None, help="new images a run and server (default 200)")
    ap.add_argument("--retags", type=int, default=None, help="re-tags a run and server (default 400)")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    count = args.pushes or (60 if args.quick else 200)
    retags = args.retags or (120 if args.quick else 400)
    images = [small_images(count, f"run-{run}") for run in range(runs)]
    sources = small_images(max(retags // 10, 1), "source")
    # The big layer: the runs' new bytes are then about 9 % of the near namespace's quota.
    prefill = max(int(sum(_bytes(i) for i in images) * NEAR_START / (0.95 - NEAR_START)), MiB)
    root = Path(tempfile.mkdtemp(prefix="wharf-quotas-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    servers: dict[str, Server] = {}
    try:
        sizes = {}
        for name in VARIANTS:
            enforce = "false" if name == "off" else "true"
            servers[name] = server = start_wharf(
                root,
                None,
                f"wharf-{name}",
                {"FEATURE_SECURITY_SCANNER": "false", "FEATURE_QUOTA_MANAGEMENT": enforce},
            )
            db = open_db(server, root)
            try:
                size = set_up(server, db, prefill, sources, name)
            finally:
                db.dispose()
            sizes[name] = quotas.human(size) + (
                f" ({size * 100 / int(size / NEAR_START):.0f} % of the quota)" if name == "near" else ""
            )
        print(f"set up in {time.perf_counter() - started:.0f} s; pushing...", flush=True)
        figures = runs_on(servers, runs, images, sources, retags)
    finally:
        for server in servers.values():
            server.stop()
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True)
    load_after = os.getloadavg()
    header = (
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} at the start "
        f"and {load_after[0]:.1f} at the end; "
        f"the run took {time.perf_counter() - started:.0f} s{' (--quick)' if args.quick else ''}."
    )
    table = render(header, figures, sizes, count, retags)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()

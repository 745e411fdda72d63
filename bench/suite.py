"""The scenario sequence every comparison runs, against any number of servers in one run."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from bench import scenarios as sc
from bench.servers import Server

T = TypeVar("T")


@dataclass
class Row:
    """One scenario: one figure per server, by server name."""

    name: str
    unit: str
    higher_is_better: bool
    figures: dict[str, float]

    def ratio(self, server: str, baseline: str) -> float:
        """`server` against `baseline`, oriented so that above 1.0 means `server` did better."""
        a, b = self.figures[server], self.figures[baseline]
        if self.higher_is_better:
            return a / b if b else float("inf")
        return b / a if a else float("inf")


def machine(args: argparse.Namespace) -> str:
    return (
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"mode: {'quick' if args.quick else 'full'}{' + big' if args.big else ''}"
    )


def run(root: Path, servers: list[Server], args: argparse.Namespace) -> list[Row]:
    """Every scenario against every server, one server after the other in the order given."""
    tags = 1000 if args.quick else 10_000
    repos = 200 if args.quick else 1000
    puts = 500 if args.quick else 2000
    seconds = 3 if args.quick else 8
    layer = 4 * sc.MiB if args.quick else 16 * sc.MiB

    sessions = {s.name: sc.Session(s) for s in servers}
    rows: list[Row] = []

    def per_server(fn: Callable[[sc.Session], T]) -> dict[str, T]:
        """`fn` on each server's session in turn, with its backends' CPU charged to it."""
        out = {}
        for s in servers:
            with s.metered():
                out[s.name] = fn(sessions[s.name])
        return out

    def each(name: str, unit: str, fn: Callable[[sc.Session], float], higher: bool = True) -> None:
        def announced(x: sc.Session) -> float:
            print(f"  {name}: {x.server.name}...", file=sys.stderr, flush=True)
            return fn(x)

        rows.append(Row(name, unit, higher, per_server(announced)))

    sizes = [("64 MiB", 64 * sc.MiB)] + ([("1 GiB", 1024 * sc.MiB)] if args.big else [])
    for label, size in sizes:
        blobs = {s.name: sc.random_file(root / f"{s.name}-{size}.bin", size) for s in servers}
        chunked = {s.name: sc.random_file(root / f"{s.name}-{size}-c.bin", size) for s in servers}
        each(f"monolithic push {label}", "MiB/s", partial(_on, sc.push_monolithic, blobs))
        each(f"chunked push {label} (8 MiB chunks)", "MiB/s", partial(_on, sc.push_chunked, chunked))
        each(f"blob pull {label}", "MiB/s", partial(_on, sc.pull_blob, blobs))
        for b in (*blobs.values(), *chunked.values()):
            b[0].unlink()
    each(f"manifest PUT ({puts}, 8 clients)", "PUT/s", lambda x: sc.manifest_puts(x, puts))
    gets = per_server(lambda x: sc.metered_manifest_gets(x, seconds))
    for i, by in enumerate(("tag", "digest")):
        rows.append(
            Row(f"manifest GET by {by} (32 clients)", "req/s", True, {k: v[i][0] for k, v in gets.items()})
        )
    for i, by in enumerate(("tag", "digest")):
        per_get = {k: v[i][1] for k, v in gets.items()}
        rows.append(Row(f"manifest GET by {by}: the server's own CPU per GET", "µs", False, per_get))
    tag_repos = per_server(lambda x: sc.populate_tags(x, tags))
    listing = per_server(lambda x: sc.list_tags(x, tag_repos[x.server.name], tags))
    rows.append(Row(f"list {tags} tags, one request", "ms", False, {k: v[0] for k, v in listing.items()}))
    rows.append(Row(f"list {tags} tags, pages of 100", "ms", False, {k: v[1] for k, v in listing.items()}))
    per_server(lambda x: sc.populate_catalog(x, repos))
    each(
        f"walk a {repos}-repository catalog, pages of 100",
        "ms",
        lambda x: sc.walk_catalog(x, repos),
        higher=False,
    )
    each(
        f"32 clients pull a 3-layer image ({layer // sc.MiB} MiB layers)",
        "MiB/s",
        lambda x: sc.concurrent_image_pulls(x, 32, layer),
    )
    cpu = {s.name: s.cpu_seconds() for s in servers}
    rows.append(Row("server CPU time over the run", "s", False, cpu))
    if any(s.backends for s in servers):
        names = " and ".join(sorted({k for s in servers for k in s.backends}))
        total = {s.name: cpu[s.name] + sum(s.backend_cpu.values()) for s in servers}
        rows.append(Row(f"server CPU time with its {names}", "s", False, total))
    rows.append(Row("server peak RSS", "MiB", False, {s.name: s.peak_rss / sc.MiB for s in servers}))
    return rows


def _on(
    fn: Callable[[sc.Session, tuple[Path, str]], float], blobs: dict[str, tuple[Path, str]], s: sc.Session
) -> float:
    """Run a blob scenario on the blob made for this server."""
    return fn(s, blobs[s.server.name])

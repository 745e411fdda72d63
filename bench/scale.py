"""--scale: the scenarios and the load scenario against Wharf on PostgreSQL + S3, in one run next to
distribution on the same S3 server and Wharf on its embedded defaults. --load: the load scenario
alone, against the default servers (distribution and Wharf on the filesystem).

One SeaweedFS (the test suite's launcher) serves both S3 servers, each from its own bucket; Wharf's
database is a fresh one on the local PostgreSQL cluster, dropped at the end. Servers run one at a
time in each scenario, in the order distribution, Wharf embedded, Wharf on PostgreSQL + S3.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import backends, load, suite
from bench.servers import Server, start_distribution, start_wharf

DIST, EMBEDDED, SCALED = "distribution-s3", "wharf", "wharf-pg-s3"
LABELS = {
    DIST: "distribution, S3",
    EMBEDDED: "Wharf, SQLite + files",
    SCALED: "Wharf, PostgreSQL + S3",
    "distribution": "distribution, files",
}
# (server, baseline) pairs for the ratio columns; the first is the headline.
RATIOS = [(SCALED, DIST), (EMBEDDED, DIST), (SCALED, EMBEDDED)]


@contextlib.contextmanager
def _servers(root: Path) -> Iterator[list[Server]]:
    """The servers the block starts: all stopped at its end, their logs kept if it failed."""
    servers: list[Server] = []
    try:
        yield servers
    except BaseException:
        _keep_logs(root, servers)
        raise
    finally:
        for s in servers:
            s.stop()


def _auth(args: argparse.Namespace) -> dict[str, Any]:
    """How distribution authenticates: behind the token server, unless --no-auth."""
    return {"token_auth": not args.no_auth, "bcrypt_cost": args.bcrypt_cost}


def _seconds(args: argparse.Namespace) -> float:
    if args.load_seconds:
        return float(args.load_seconds)
    return load.QUICK_SECONDS if args.quick else load.SECONDS


def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    seconds = _seconds(args)
    with (
        tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp,
        backends.seaweed() as s3,
        backends.postgres_database(args.pg_uri) as db,
    ):
        root = Path(tmp)
        backends.create_bucket(s3, "distribution")
        backends.create_bucket(s3, "wharf")
        assert s3.proc is not None
        weed = s3.proc.pid

        def seaweed_cpu() -> float:
            return backends.tree_cpu_seconds(weed)

        with _servers(root) as servers:
            servers.append(
                start_distribution(
                    root, DIST, backends.distribution_storage(s3, "distribution"), **_auth(args)
                )
            )
            servers[-1].backends["SeaweedFS"] = seaweed_cpu
            servers.append(start_wharf(root, args.workers))
            settings = backends.wharf_settings(s3, "wharf", db.uri)
            servers.append(start_wharf(root, args.workers, SCALED, settings))
            servers[-1].backends["SeaweedFS"] = seaweed_cpu
            if db.cpu:
                servers[-1].backends["PostgreSQL"] = db.cpu.cpu_seconds
            for s in servers:
                s.watch_memory()
            rows = suite.run(root, servers, args)
            results = load.run_all(servers, seconds)
            if load.failures(results):
                _keep_logs(root, servers)
        versions = f"SeaweedFS {backends.weed_version(s3)}, PostgreSQL {db.version}"
    load_after = os.getloadavg()
    rows += _load_rows(results)
    header = (
        f"{suite.machine(args)}; {_distribution_version()}, {versions}; load average (1, 5, 15 min) "
        f"{_load(load_before)} at the start, {_load(load_after)} at the end"
    )
    out = "\n\n".join([header, render(rows), load.render(results, LABELS, seconds)])
    _finish(out, results, args)


def load_only(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    seconds = _seconds(args)
    with tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        root = Path(tmp)
        with _servers(root) as servers:
            servers.append(start_distribution(root, **_auth(args)))
            servers.append(start_wharf(root, args.workers))
            results = load.run_all(servers, seconds)
            if load.failures(results):
                _keep_logs(root, servers)
    header = (
        f"{suite.machine(args)}; {_distribution_version()}; load average (1, 5, 15 min) "
        f"{_load(load_before)} at the start, {_load(os.getloadavg())} at the end"
    )
    _finish("\n\n".join([header, load.render(results, LABELS, seconds)]), results, args)


def _finish(out: str, results: list[load.Result], args: argparse.Namespace) -> None:
    print(out)
    if args.markdown:
        args.markdown.write_text(out + "\n")
    problems = load.failures(results)
    if problems:
        raise SystemExit(f"the load scenario saw errors (there must be none):\n{problems}")


def _load_rows(results: list[load.Result]) -> list[suite.Row]:
    by = {r.server: r for r in results}

    def row(name: str, unit: str, higher: bool, fn: Callable[[load.Result], float]) -> suite.Row:
        return suite.Row(name, unit, higher, {k: fn(v) for k, v in by.items()})

    what = f"load ({load.PULLERS} pulling, {load.PUSHERS} pushing)"
    return [
        row(f"{what}: pulls", "pulls/s", True, lambda r: r.rate("pull")),
        row(f"{what}: pull p99", "ms", False, lambda r: r.latency_ms("pull", 0.99)),
        row(f"{what}: pushes", "pushes/s", True, lambda r: r.rate("push")),
        row(f"{what}: push p99", "ms", False, lambda r: r.latency_ms("push", 0.99)),
    ]


def render(rows: list[suite.Row]) -> str:
    names = [DIST, EMBEDDED, SCALED]
    ratio_heads = [f"{_short(a)} vs {_short(b)}" for a, b in RATIOS]
    lines = [
        "| scenario | unit | "
        + " | ".join(LABELS[n] for n in names)
        + " | "
        + " | ".join(ratio_heads)
        + " |",
        "|---|---|" + "---:|" * (len(names) + len(RATIOS)),
    ]
    for r in rows:
        better = "" if r.higher_is_better else " (lower is better)"
        figures = " | ".join(f"{r.figures[n]:,.1f}" for n in names)
        ratios = " | ".join(f"{r.ratio(a, b):.2f}" for a, b in RATIOS)
        lines.append(f"| {r.name} | {r.unit}{better} | {figures} | {ratios} |")
    return "\n".join(lines)


def _short(name: str) -> str:
    return {DIST: "distribution", EMBEDDED: "embedded", SCALED: "PG+S3"}[name]


def _load(avg: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.1f}" for x in avg)


def _distribution_version() -> str:
    out = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    return f"distribution {words[-1]}" if words else "distribution"


def _tail_logs(root: Path, servers: list[Server]) -> None:
    """What each server said last, and where a Go server panicked: a failed run is read from these."""
    for s in servers:
        log = root / f"{s.name}.log"
        if not log.exists():
            continue
        text = log.read_text(errors="replace")
        print(f"--- {log.name} (last 3000 characters)", file=sys.stderr)
        print(text[-3000:], file=sys.stderr)
        panic = text.find("\npanic: ")
        if panic >= 0:
            print(f"--- {log.name}: the panic", file=sys.stderr)
            print(text[panic + 1 : panic + 1500], file=sys.stderr)


def _keep_logs(root: Path, servers: list[Server]) -> None:
    """Copy the servers' logs out of the run's directory, which is removed at the end."""
    kept = Path(tempfile.mkdtemp(prefix="wharf-bench-logs-"))
    for s in servers:
        log = root / f"{s.name}.log"
        if log.exists():
            shutil.copy(log, kept / log.name)
    print(f"the servers' logs are kept in {kept}", file=sys.stderr)
    _tail_logs(root, servers)

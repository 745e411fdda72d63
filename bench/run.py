"""Run Wharf and CNCF distribution side by side on loopback; print both figures and their ratio.

    .venv/bin/python -m bench [--quick] [--big] [--pin] [--only REGEX] [--markdown FILE] [--json FILE]

Every scenario runs against both servers in the same run, alternating which goes first. Ratios are
oriented so that above 1.0 means Wharf did better. `--aa` puts a second distribution in Wharf's
place: every ratio should then be near 1.0, which checks that the harness itself is fair.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import psutil

from bench import scenarios as sc
from bench.client import Registry
from bench.servers import WHARF, Server, start_distribution, start_wharf
from bench.tools import MiB, RandomSource, Sample, machine_busy, own_cpu


@dataclass
class Scenario:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    measure: Callable[[sc.Target], Sample]
    reps: int


@dataclass
class Row:
    title: str
    unit: str
    higher_is_better: bool
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def figure(self, side: str) -> float | None:
        values = [s.value for s in self.samples.get(side, [])]
        if not values or any(v is None for v in values):
            return None
        return statistics.median(v for v in values if v is not None)

    def ratio(self, a: str, b: str) -> float | None:
        x, y = self.figure(a), self.figure(b)
        if x is None or y is None or x == 0 or y == 0:
            return None
        return y / x if self.higher_is_better else x / y


@dataclass
class Plan:
    quick: bool
    big: bool
    reps: int
    seconds: float
    tags: int
    repos: int
    layer: int
    blob_pulls: int


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(True, args.big, 2, 2.0, 2000, 1000, 8 * MiB, 8)
    else:
        plan = Plan(False, args.big, 3, 5.0, 10_000, 1000, 16 * MiB, 8)
    if args.reps:
        plan.reps = args.reps
    return plan


def scenarios(plan: Plan) -> list[Scenario]:
    out: list[Scenario] = []
    sizes = [("64 MiB", 64 * MiB, plan.blob_pulls, plan.reps)]
    if plan.big:
        sizes.append(("1 GiB", 1024 * MiB, 2, min(plan.reps, 2)))
    for label, size, pulls, reps in sizes:
        out += [
            Scenario(
                f"mono-{label}",
                f"monolithic push {label}",
                "MiB/s",
                True,
                partial(sc.push_monolithic, size=size),
                reps,
            ),
            Scenario(
                f"chunked-{label}",
                f"chunked push {label} (8 MiB PATCHes)",
                "MiB/s",
                True,
                partial(sc.push_chunked, size=size, chunk=8 * MiB),
                reps,
            ),
            Scenario(
                f"pull-{label}",
                f"blob pull {label} ({pulls} GETs, one connection)",
                "MiB/s",
                True,
                partial(sc.pull_blob, size=size, times=pulls),
                reps,
            ),
        ]
    s, r = plan.seconds, plan.reps
    out += [
        Scenario(
            "manifest-put",
            "manifest PUT, 8 clients",
            "PUT/s",
            True,
            partial(sc.manifest_put, seconds=s, connections=8),
            r,
        ),
        Scenario(
            "get-tag",
            "manifest GET by tag, 32 clients",
            "GET/s",
            True,
            partial(sc.manifest_get, by="tag", seconds=s, connections=32),
            r,
        ),
        Scenario(
            "get-digest",
            "manifest GET by digest, 32 clients",
            "GET/s",
            True,
            partial(sc.manifest_get, by="digest", seconds=s, connections=32),
            r,
        ),
        Scenario(
            "tags-full",
            f"tags/list of {plan.tags:,} tags, one request",
            "ms",
            False,
            partial(sc.list_tags_full, count=plan.tags, min_seconds=plan.seconds / 4),
            r,
        ),
        Scenario(
            "tags-paged",
            f"tags/list of {plan.tags:,} tags, pages of n=100",
            "ms",
            False,
            partial(sc.list_tags_paged, count=plan.tags, page=100, min_seconds=plan.seconds / 4),
            r,
        ),
        Scenario(
            "catalog",
            f"_catalog walk of {plan.repos:,} repositories, pages of n=100",
            "ms",
            False,
            partial(sc.walk_catalog, count=plan.repos, page=100, min_seconds=plan.seconds / 4),
            r,
        ),
        Scenario(
            "pull3",
            f"32 clients pull a 3-layer image ({plan.layer // MiB} MiB layers)",
            "MiB/s",
            True,
            partial(sc.image_pulls, clients=32, layer=plan.layer),
            r,
        ),
    ]
    return out


def fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def header(
    plan: Plan, args: argparse.Namespace, servers: list[Server], versions: dict[str, str]
) -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mode = ("quick" if plan.quick else "full") + (" + big" if plan.big else "")
    wharf = [s for s in servers if s.kind == "wharf"]
    lines = [
        f"Machine: {os.cpu_count()} x {cpu}, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"Peer: {versions['distribution']}; client tools: {versions['wrk'].split(' Copyright')[0]}, "
        f"{' '.join(versions['curl'].split()[:2])}, httpx",
        f"Mode: {mode}; {plan.reps} repetitions per scenario (median shown, order alternated); "
        f"{'servers pinned to CPU 1, client to CPU 0' if args.pin else 'no CPU pinning'}",
    ]
    if wharf:
        w = wharf[0]
        lines.append(
            f"Wharf: {_wharf_version()}, `wharf serve` "
            f"{'--workers ' + str(args.workers) if args.workers is not None else 'defaults'} "
            f"({w.peak_processes} process{'es' if w.peak_processes != 1 else ''}), SQLite, local filesystem"
        )
    return lines


def _wharf_version() -> str:
    try:
        out = subprocess.run([str(WHARF), "--version"], capture_output=True, text=True, timeout=60)
        return out.stdout.strip() or "wharf ?"
    except OSError:
        return "wharf ?"


def render(rows: list[Row], a: str, b: str, head: list[str]) -> str:
    lines = [*head, "", f"| scenario | unit | {a} | {b} | ratio |", "|---|---|---:|---:|---:|"]
    for r in rows:
        unit = r.unit + ("" if r.higher_is_better else ", lower is better")
        lines.append(
            f"| {r.title} | {unit} | {fmt(r.figure(a))} | {fmt(r.figure(b))} | {fmt(r.ratio(a, b))} |"
        )
    return "\n".join(lines)


def render_diagnostics(rows: list[Row], sides: list[str]) -> str:
    """Where the CPU went in each scenario: server, client (this process + curl/wrk), everything else."""
    lines = [
        "| scenario | server | median | spread | server CPU | client CPU | other CPU | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        for side in sides:
            ss = r.samples.get(side)
            if not ss or "cpu" in r.unit:
                continue
            wall = sum(s.wall for s in ss) or 1.0
            values = [s.value for s in ss if s.value is not None]
            spread = f"{fmt(min(values))}-{fmt(max(values))}" if len(values) > 1 else ""
            notes = ", ".join(f"{k} {v}" for k, v in ss[len(ss) // 2].notes.items())
            lines.append(
                f"| {r.title} | {side} | {fmt(r.figure(side))} | {spread} | "
                f"{sum(s.server_cpu for s in ss) / wall:.2f} | {sum(s.client_cpu for s in ss) / wall:.2f} | "
                f"{sum(s.other_cpu for s in ss) / wall:.2f} | {notes} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 2,000 tags, 2 s load runs")
    ap.add_argument("--big", action="store_true", help="also push and pull 1 GiB blobs")
    ap.add_argument("--pin", action="store_true", help="servers on CPU 1, the client on CPU 0 (taskset)")
    ap.add_argument("--workers", type=int, help="pass --workers N to wharf serve (default: Wharf's default)")
    ap.add_argument("--reps", type=int, help="repetitions per scenario (default 3, quick 2)")
    ap.add_argument("--only", help="run only scenarios whose key or title matches this regex")
    ap.add_argument(
        "--aa", action="store_true", help="distribution against a second distribution (harness check)"
    )
    ap.add_argument("--markdown", type=Path, help="also write the tables as Markdown to this file")
    ap.add_argument("--json", type=Path, help="also write every sample as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, data)")
    args = ap.parse_args(argv)
    plan = make_plan(args)
    todo = scenarios(plan)
    if args.only:
        todo = [s for s in todo if re.search(args.only, s.key) or re.search(args.only, s.title)]
        if not todo:
            ap.error(f"no scenario matches {args.only!r}")
    if args.pin:
        if (os.cpu_count() or 1) < 2:
            ap.error("--pin needs at least two cores")
        os.sched_setaffinity(0, {0})  # before any thread or child exists, so all inherit it
    server_cpus = {1} if args.pin else None
    versions = sc.tool_versions()
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.1f} before starting; figures will be noisy", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="wharf-bench-"))
    servers: list[Server] = []
    started = time.perf_counter()
    try:
        servers.append(start_distribution(tmp, "distribution", server_cpus))
        if args.aa:
            servers.append(start_distribution(tmp, "distribution-B", server_cpus))
        else:
            servers.append(start_wharf(tmp, server_cpus, args.workers))
        a, b = servers[0].name, servers[1].name
        for s in servers:
            s.watch()
        scratch = tmp / "client"
        scratch.mkdir()
        rand = RandomSource()
        targets = {s.name: sc.Target(s, Registry(s.url, s.credentials), scratch, rand) for s in servers}
        busy0, client0 = machine_busy(), own_cpu()
        rows: list[Row] = []
        for n, scen in enumerate(todo, 1):
            row = Row(scen.title, scen.unit, scen.higher_is_better)
            rows.append(row)
            for rep in range(scen.reps):
                order = servers if rep % 2 == 0 else servers[::-1]
                for s in order:
                    print(
                        f"[{n}/{len(todo)}] {scen.title}: {s.name} ({rep + 1}/{scen.reps})",
                        file=sys.stderr,
                        flush=True,
                    )
                    row.samples.setdefault(s.name, []).append(scen.measure(targets[s.name]))
        wall = time.perf_counter() - started
        cpu = Row("server CPU time after startup", "CPU s", False)
        rss = Row("server peak RSS (process tree)", "MiB", False)
        for s in servers:
            s.sample()
            cpu.samples[s.name] = [Sample(s.cpu_seconds() - s.cpu_at_ready)]
            rss.samples[s.name] = [Sample(s.peak_rss / MiB)]
        served = sum(s.cpu_seconds() - s.cpu_at_ready for s in servers)
        other = machine_busy() - busy0 - (own_cpu() - client0) - served
        tokens = {name: t.registry.token_requests for name, t in targets.items()}
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)

    head = header(plan, args, servers, versions)
    head.append(
        f"Run: {wall:.0f} s; other processes used {max(0.0, other) / wall:.2f} cores on average "
        f"(load before start {load:.2f}); token requests: " + ", ".join(f"{k} {v}" for k, v in tokens.items())
    )
    table = render([*rows, cpu, rss], a, b, head)
    diag = render_diagnostics(rows, [a, b])
    text = (
        f"{table}\n\nWhere the CPU went (cores busy on average during the timed windows; "
        f"client = this process with its curl/wrk children):\n\n{diag}"
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"header": head, "rows": [asdict(r) for r in [*rows, cpu, rss]]},
                indent=1,
                default=str,
            )
        )
    return 0

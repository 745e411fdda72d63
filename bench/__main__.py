"""Run Wharf and CNCF distribution side by side on loopback and print both figures and their ratio.

    python -m bench [--quick] [--big] [--markdown FILE]
    python -m bench --audit-overhead [--rounds N] [--quick] [--markdown FILE]

Every scenario runs against both servers in the same run, distribution first. Ratios are
oriented so that above 1.0 means Wharf did better. --audit-overhead instead runs the manifest
and pull scenarios against Wharf with and without usage logs of pulls (see bench/audit_overhead.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import audit_overhead
from bench import scenarios as sc
from bench.servers import Server, start_distribution, start_wharf


@dataclass
class Row:
    name: str
    unit: str
    higher_is_better: bool
    distribution: float
    wharf: float

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.wharf / self.distribution if self.distribution else float("inf")
        return self.distribution / self.wharf if self.wharf else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller counts and shorter runs (about a minute)")
    ap.add_argument("--big", action="store_true", help="also push and pull 1 GiB blobs")
    ap.add_argument("--workers", type=int, help="wharf server processes (default: wharf's own default)")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    ap.add_argument(
        "--audit-overhead",
        action="store_true",
        help="Wharf with and without pull usage logs (ACTION_LOG_PULLS) on the manifest and pull scenarios",
    )
    ap.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds for --audit-overhead (default 5)"
    )
    args = ap.parse_args()
    if args.audit_overhead:
        _audit_overhead(args)
        return

    tags = 1000 if args.quick else 10_000
    repos = 200 if args.quick else 1000
    puts = 500 if args.quick else 2000
    seconds = 3 if args.quick else 8
    layer = 4 * sc.MiB if args.quick else 16 * sc.MiB

    with tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        root = Path(tmp)
        dist = start_distribution(root)
        wharf = start_wharf(root, args.workers)
        servers = [dist, wharf]
        for s in servers:
            s.watch_memory()
        sessions = {s.name: sc.Session(s) for s in servers}
        rows: list[Row] = []

        def both(name: str, unit: str, fn: Callable[[sc.Session], float], higher: bool = True) -> None:
            figures = {}
            for s in servers:
                print(f"  {name}: {s.name}...", file=sys.stderr, flush=True)
                figures[s.name] = fn(sessions[s.name])
            rows.append(Row(name, unit, higher, figures["distribution"], figures["wharf"]))

        try:
            sizes = [("64 MiB", 64 * sc.MiB)] + ([("1 GiB", 1024 * sc.MiB)] if args.big else [])
            for label, size in sizes:
                blobs = {s.name: sc.random_file(root / f"{s.name}-{size}.bin", size) for s in servers}
                chunked = {s.name: sc.random_file(root / f"{s.name}-{size}-c.bin", size) for s in servers}
                both(f"monolithic push {label}", "MiB/s", partial(_on, sc.push_monolithic, blobs))
                both(f"chunked push {label} (8 MiB chunks)", "MiB/s", partial(_on, sc.push_chunked, chunked))
                both(f"blob pull {label}", "MiB/s", partial(_on, sc.pull_blob, blobs))
                for b in (*blobs.values(), *chunked.values()):
                    b[0].unlink()
            both(f"manifest PUT ({puts}, 8 clients)", "PUT/s", lambda x: sc.manifest_puts(x, puts))
            gets = {s.name: sc.manifest_gets(sessions[s.name], seconds) for s in servers}
            rows.append(
                Row(
                    "manifest GET by tag (32 clients)",
                    "req/s",
                    True,
                    gets["distribution"][0],
                    gets["wharf"][0],
                )
            )
            rows.append(
                Row(
                    "manifest GET by digest (32 clients)",
                    "req/s",
                    True,
                    gets["distribution"][1],
                    gets["wharf"][1],
                )
            )
            tag_repos = {s.name: sc.populate_tags(sessions[s.name], tags) for s in servers}
            listing = {s.name: sc.list_tags(sessions[s.name], tag_repos[s.name], tags) for s in servers}
            rows.append(
                Row(
                    f"list {tags} tags, one request",
                    "ms",
                    False,
                    listing["distribution"][0],
                    listing["wharf"][0],
                )
            )
            rows.append(
                Row(
                    f"list {tags} tags, pages of 100",
                    "ms",
                    False,
                    listing["distribution"][1],
                    listing["wharf"][1],
                )
            )
            for s in servers:
                sc.populate_catalog(sessions[s.name], repos)
            both(
                f"walk a {repos}-repository catalog, pages of 100",
                "ms",
                lambda x: sc.walk_catalog(x, repos),
                higher=False,
            )
            both(
                f"32 clients pull a 3-layer image ({layer // sc.MiB} MiB layers)",
                "MiB/s",
                lambda x: sc.concurrent_image_pulls(x, 32, layer),
            )
            cpu = {s.name: s.cpu_seconds() for s in servers}
            rows.append(Row("server CPU time over the run", "s", False, cpu["distribution"], cpu["wharf"]))
            rows.append(Row("server peak RSS", "MiB", False, dist.peak_rss / sc.MiB, wharf.peak_rss / sc.MiB))
        finally:
            for s in servers:
                s.stop()

    table = render(rows, args, wharf)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


def _audit_overhead(args: argparse.Namespace) -> None:
    if args.big:
        raise SystemExit("--big does not apply to --audit-overhead")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        series, counted = audit_overhead.run(Path(tmp), args)
    for s in series:  # the figures behind the medians, round by round
        print(f"{s.name} ({s.unit}): {s.figures}", file=sys.stderr)
    header = f"{_machine(args)}; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    table = audit_overhead.render(series, counted, header, args.rounds)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    problems = audit_overhead.check(counted)
    if problems:
        raise SystemExit("the usage logs were not written as the comparison assumes:\n" + "\n".join(problems))


def _on(
    fn: Callable[[sc.Session, tuple[Path, str]], float], blobs: dict[str, tuple[Path, str]], s: sc.Session
) -> float:
    """Run a blob scenario on the blob made for this server."""
    return fn(s, blobs[s.server.name])


def _machine(args: argparse.Namespace) -> str:
    return (
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"mode: {'quick' if args.quick else 'full'}{' + big' if args.big else ''}"
    )


def render(rows: list[Row], args: argparse.Namespace, wharf: Server) -> str:
    lines = [
        _machine(args),
        "",
        "| scenario | unit | distribution | Wharf | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        better = "" if r.higher_is_better else " (lower is better)"
        lines.append(
            f"| {r.name} | {r.unit}{better} | {r.distribution:,.1f} | {r.wharf:,.1f} | {r.ratio:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Run Wharf and CNCF distribution side by side on loopback and print both figures and their ratio.

    python -m bench [--quick] [--big] [--markdown FILE]
    python -m bench --audit-overhead [--rounds N] [--quick] [--markdown FILE]
    python -m bench --scale [--quick] [--big] [--load-seconds S] [--pg-uri URI] [--markdown FILE]
    python -m bench --load [--quick] [--load-seconds S] [--markdown FILE]

Every scenario runs against both servers in the same run, distribution first. Ratios are
oriented so that above 1.0 means Wharf did better. --audit-overhead instead runs the manifest
and pull scenarios against Wharf with and without usage logs of pulls (see bench/audit_overhead.py).
--scale runs them against distribution on S3 (SeaweedFS), Wharf on its embedded defaults and
Wharf on PostgreSQL + S3, then the load scenario against each (see bench/scale.py); --load runs
only the load scenario, against the two default servers (see bench/load.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench import audit_overhead, load, scale, suite
from bench.servers import start_distribution, start_wharf


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller counts and shorter runs (about a minute)")
    ap.add_argument("--big", action="store_true", help="also push and pull 1 GiB blobs")
    ap.add_argument("--workers", type=int, help="wharf server processes (default: wharf's own default)")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument(
        "--audit-overhead",
        action="store_true",
        help="Wharf with and without pull usage logs (ACTION_LOG_PULLS) on the manifest and pull scenarios",
    )
    mode.add_argument(
        "--scale",
        action="store_true",
        help="distribution on S3, Wharf embedded and Wharf on PostgreSQL + S3: every scenario, then the load",
    )
    mode.add_argument(
        "--load",
        action="store_true",
        help=f"only the load scenario ({load.PULLERS} pulling, {load.PUSHERS} pushing), default servers",
    )
    ap.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds for --audit-overhead (default 5)"
    )
    ap.add_argument(
        "--load-seconds",
        type=float,
        help=f"seconds of load (default {load.SECONDS:.0f}, {load.QUICK_SECONDS:.0f} with --quick)",
    )
    ap.add_argument(
        "--pg-uri",
        help="PostgreSQL server for --scale: postgresql://user:pw@host:port/db (default: scripts/pg-start's)",
    )
    args = ap.parse_args()
    if args.audit_overhead:
        _audit_overhead(args)
        return
    if args.scale:
        scale.main(args)
        return
    if args.load:
        scale.load_only(args)
        return

    with tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        root = Path(tmp)
        servers = [start_distribution(root), start_wharf(root, args.workers)]
        for s in servers:
            s.watch_memory()
        try:
            rows = suite.run(root, servers, args)
        finally:
            for s in servers:
                s.stop()

    table = render(rows, args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


def _audit_overhead(args: argparse.Namespace) -> None:
    if args.big:
        raise SystemExit("--big does not apply to --audit-overhead")
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        series, counted = audit_overhead.run(Path(tmp), args)
    for s in series:  # the figures behind the medians, round by round
        print(f"{s.name} ({s.unit}): {s.figures}", file=sys.stderr)
    header = (
        f"{suite.machine(args)}; load average {before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    table = audit_overhead.render(series, counted, header, args.rounds)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    problems = audit_overhead.check(counted)
    if problems:
        raise SystemExit("the usage logs were not written as the comparison assumes:\n" + "\n".join(problems))


def render(rows: list[suite.Row], args: argparse.Namespace) -> str:
    lines = [
        suite.machine(args),
        "",
        "| scenario | unit | distribution | Wharf | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        better = "" if r.higher_is_better else " (lower is better)"
        dist, wharf = r.figures["distribution"], r.figures["wharf"]
        ratio = r.ratio("wharf", "distribution")
        lines.append(f"| {r.name} | {r.unit}{better} | {dist:,.1f} | {wharf:,.1f} | {ratio:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

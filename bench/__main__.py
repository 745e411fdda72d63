"""Run Wharf and CNCF distribution side by side on loopback and print both figures and their ratio.

    python -m bench [--quick] [--big] [--runs N] [--no-auth] [--bcrypt-cost N] [--only TEXT] [--markdown FILE]
    python -m bench --audit-overhead [--rounds N] [--quick] [--markdown FILE]
    python -m bench --scale [--quick] [--big] [--load-seconds S] [--pg-uri URI] [--markdown FILE]
    python -m bench --load [--quick] [--load-seconds S] [--markdown FILE]

distribution runs behind a token server (bench/token_server.py) unless --no-auth is given, and
clients fetch tokens per repository as docker does. Each row is the median of --runs interleaved
runs (see bench/compare.py). Ratios are oriented so that above 1.0 means Wharf did better.
--audit-overhead instead runs the manifest and pull scenarios against Wharf with and without
usage logs of pulls (see bench/audit_overhead.py).
--scale runs them against distribution on S3 (SeaweedFS), Wharf on its embedded defaults and
Wharf on PostgreSQL + S3, then the load scenario against each (see bench/scale.py); --load runs
only the load scenario, against the two default servers (see bench/load.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import audit_overhead, compare, load, scale, suite
from bench.servers import BCRYPT_COST, NO_SCANNER, start_distribution, start_wharf


def main() -> None:  # noqa: PLR0915 (one statement per command-line option and step)
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller counts and shorter runs (about 4 minutes)")
    ap.add_argument("--big", action="store_true", help="also push and pull 1 GiB blobs")
    ap.add_argument("--workers", type=int, help="wharf server processes (default: wharf's own default)")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    ap.add_argument(
        "--runs", type=int, default=3, help="interleaved runs of the default comparison (default 3)"
    )
    ap.add_argument(
        "--no-auth", action="store_true", help="distribution without authentication (the old comparison)"
    )
    ap.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only the scenarios whose step label holds TEXT (repeatable), with only their set-up:"
        " 'walk 10000 tags', 'walk', 'manifest PUT', 'logins, same'... (the labels are printed as they run)",
    )
    ap.add_argument(
        "--bcrypt-cost",
        type=int,
        default=BCRYPT_COST,
        help=f"bcrypt cost of the token server's password hashes (default {BCRYPT_COST}, as htpasswd -B)",
    )
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

    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="wharf-bench-"))
    try:
        servers = [start_distribution(root, token_auth=not args.no_auth, bcrypt_cost=args.bcrypt_cost)]
        try:
            # Distribution scans nothing: Wharf runs without its scanner here, so that each push
            # is not also an indexing job. Scanning's own cost is measured on its own (issue 16).
            servers.append(start_wharf(root, args.workers, settings=NO_SCANNER))
            time.sleep(1)  # idle RSS is read right after start-up: let both settle
            for s in servers:
                s.watch_memory(0.05)
            compare._say("servers started")
            table, errors = compare.main(args, servers, root)
        except BaseException:
            scale._keep_logs(root, servers)
            raise
        finally:
            for s in servers:
                s.stop()
        header = (
            f"{scale._distribution_version()}; Wharf {_commit()}; load average (1, 5, 15 min) "
            f"{scale._load(load_before)} at the start, {scale._load(os.getloadavg())} at the end"
        )
        out = table.replace("\n", f"\n{header}\n", 1)
        print(out, flush=True)
        if args.markdown:
            args.markdown.write_text(out + "\n")
    finally:
        # distribution keeps each tag and link in files of their own: removing tens of thousands
        # of them took more than ten minutes on a busy machine, so a detached `rm -rf` does it.
        compare._say(f"removing {root} in the background")
        subprocess.Popen(
            ["rm", "-rf", "--", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    if errors:
        print("\n\n".join(errors), file=sys.stderr)
        raise SystemExit("clients saw errors (there must be none): see above")


def _commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "log", "-1", "--format=%h %cs"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "(unknown commit)"


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


if __name__ == "__main__":
    main()

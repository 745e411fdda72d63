"""--audit-overhead: what writing usage logs costs pulls and pushes.

Two Wharf servers run next to distribution in the same run: `wharf` on its defaults (every
successful manifest GET queues a `pull_repo` entry) and `wharf-nolog` with ACTION_LOG_PULLS=false.
Push entries (`push_repo`) cannot be turned off, so for manifest PUTs both Wharf servers log and
their on/off ratio shows what noise alone does. Scenarios are interleaved round by round:
distribution, then the two Wharf servers in turn, swapped every other round, so that drift on a
shared machine (and what the previous run leaves behind) hits both variants alike. At the end
the entries are counted through the API, to show that they were in fact written.

On a small machine that other work shares, one run after the other moves by more than the cost
being measured. So each round also runs both Wharf servers at the same time, with one wrk each:
both servers pinned to one core and both wrk processes to another. The two servers then share
that core and whatever else runs on it at every instant, and their ratio reads the difference in
CPU per request with little noise. That takes the flush thread onto the request's core, which
is the worst case for logging.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import scenarios as sc
from bench.servers import Server, start_distribution, start_wharf

DIST, ON, OFF = "distribution", "wharf", "wharf-nolog"
CLIENTS = 32
# Wait after a wrk run before reading CPU time, so that the audit buffer's once-a-second flush of
# the last requests' entries is counted with them.
SETTLE_S = 1.5


@dataclass
class Series:
    """One scenario: one figure per round for each server."""

    name: str
    unit: str
    higher_is_better: bool = True
    figures: dict[str, list[float]] = field(default_factory=lambda: {DIST: [], ON: [], OFF: []})

    def median(self, server: str) -> float:
        return statistics.median(self.figures[server])

    def on_off(self) -> list[float]:
        """Logs on / logs off, paired round by round."""
        return [on / off for on, off in zip(self.figures[ON], self.figures[OFF], strict=True)]

    def versus_distribution(self) -> float | None:
        """Wharf (logs on) against distribution, above 1.0 when Wharf did better."""
        if not self.figures[DIST]:
            return None
        on, dist = self.median(ON), self.median(DIST)
        return on / dist if self.higher_is_better else dist / on


@dataclass
class Counted:
    """Log entries found after the run, next to the number the requests should have written."""

    what: str
    expected: dict[str, int]
    found: dict[str, int]


class AuditRun:
    """The servers, their sessions and the figures of one --audit-overhead run."""

    def __init__(self, servers: list[Server], quick: bool) -> None:
        self.servers = servers
        self.sessions = {s.name: sc.Session(s) for s in servers}
        self.puts = 500 if quick else 2000
        self.seconds = 3 if quick else 8
        self.layer = 4 * sc.MiB if quick else 16 * sc.MiB
        self.put = Series(f"manifest PUT ({self.puts}, 8 clients)", "PUT/s")
        self.by_tag = Series(f"manifest GET by tag ({CLIENTS} clients)", "req/s")
        self.by_tag_cpu = Series("server CPU per GET by tag", "µs", higher_is_better=False)
        self.by_digest = Series(f"manifest GET by digest ({CLIENTS} clients)", "req/s")
        self.by_digest_cpu = Series("server CPU per GET by digest", "µs", higher_is_better=False)
        self.pulls = Series(
            f"{CLIENTS} clients pull a 3-layer image ({self.layer // sc.MiB} MiB layers)", "MiB/s"
        )
        self.together_tag = Series(
            f"manifest GET by tag, both at once on one core ({CLIENTS} clients each)", "req/s"
        )
        self.together_digest = Series(
            f"manifest GET by digest, both at once on one core ({CLIENTS} clients each)", "req/s"
        )
        self.cores = _two_cores()
        self.targets = {s.name: sc.manifest_get_targets(self.sessions[s.name]) for s in servers}
        self.gets_done = {s.name: 0 for s in servers}

    @property
    def series(self) -> list[Series]:
        both = [self.together_tag, self.together_digest] if self.cores else []
        return [self.put, self.by_tag, self.by_tag_cpu, self.by_digest, self.by_digest_cpu, self.pulls, *both]

    def warm_up(self) -> None:
        """One second of GETs on each URL: first requests pay for imports, caches, token checks."""
        for s in self.servers:
            t = self.targets[s.name]
            for url in (t.by_tag, t.by_digest):
                self.gets_done[s.name] += sc.wrk_run(url, self._headers(s), 1, CLIENTS)[1]

    def round(self, r: int) -> None:
        steps: list[tuple[str, Callable[[Server, int], None]]] = [
            (self.put.name, self._put),
            (self.by_tag.name, self._get_by_tag),
            (self.by_digest.name, self._get_by_digest),
            (self.pulls.name, self._pull_images),
        ]
        dist, on, off = self.servers
        order = [dist, on, off] if r % 2 == 0 else [dist, off, on]
        for name, step in steps:
            for s in order:
                print(f"  round {r + 1}: {name}: {s.name}...", file=sys.stderr, flush=True)
                step(s, r)
        if self.cores:
            print(f"  round {r + 1}: both Wharf servers at once...", file=sys.stderr, flush=True)
            self._together(self.together_tag, False, order[1:])
            self._together(self.together_digest, True, order[1:])

    def _headers(self, s: Server) -> dict[str, str]:
        """A token young enough for the next GETs: a run outlasts distribution's 15-minute tokens."""
        x = self.sessions[s.name]
        return {**x.repo_auth(x.repo("gets")), "Accept": sc.OCI_MANIFEST}

    def _put(self, s: Server, r: int) -> None:
        self.put.figures[s.name].append(sc.manifest_puts(self.sessions[s.name], self.puts, name=f"put{r}"))

    def _get_by_tag(self, s: Server, r: int) -> None:
        self._wrk(s, False, self.by_tag, self.by_tag_cpu)

    def _get_by_digest(self, s: Server, r: int) -> None:
        self._wrk(s, True, self.by_digest, self.by_digest_cpu)

    def _wrk(self, s: Server, by_digest: bool, rps: Series, cpu: Series) -> None:
        t = self.targets[s.name]
        before = s.cpu_seconds()
        rate, done = sc.wrk_run(t.url(by_digest), self._headers(s), self.seconds, CLIENTS)
        time.sleep(SETTLE_S)
        rps.figures[s.name].append(rate)
        cpu.figures[s.name].append((s.cpu_seconds() - before) / done * 1e6)
        self.gets_done[s.name] += done

    def _together(self, series: Series, by_digest: bool, wharfs: list[Server]) -> None:
        """Both Wharf servers pinned to one core, a wrk for each on the other, at the same time."""
        assert self.cores is not None
        server_core, client_core = self.cores
        for s in wharfs:
            s.pin({server_core})
        try:
            with _spawning_on(client_core):
                results = sc.wrk_together(
                    [(self.targets[s.name].url(by_digest), self._headers(s)) for s in wharfs],
                    self.seconds,
                    CLIENTS,
                )
        finally:
            for s in wharfs:
                s.pin(None)
        time.sleep(SETTLE_S)
        for s, (rate, done) in zip(wharfs, results, strict=True):
            series.figures[s.name].append(rate)
            self.gets_done[s.name] += done

    def _pull_images(self, s: Server, r: int) -> None:
        self.pulls.figures[s.name].append(
            sc.concurrent_image_pulls(self.sessions[s.name], CLIENTS, self.layer)
        )

    def count(self, rounds: int) -> list[Counted]:
        """The usage-log entries both Wharf servers wrote, against what the requests should have."""
        on, off = self.sessions[ON], self.sessions[OFF]
        pull3 = (CLIENTS + 1) * rounds  # each round: one GET for the layer list, then one per client
        return [
            Counted(
                "pull_repo, admin/gets (wrk does not count requests in flight when it stops)",
                {ON: self.gets_done[ON], OFF: 0},
                {
                    ON: sc.settled_log_count(on, "gets", "pull_repo"),
                    OFF: sc.count_log_entries(off, "gets", "pull_repo"),
                },
            ),
            Counted(
                "pull_repo, admin/pull3",
                {ON: pull3, OFF: 0},
                {
                    ON: sc.settled_log_count(on, "pull3", "pull_repo"),
                    OFF: sc.count_log_entries(off, "pull3", "pull_repo"),
                },
            ),
            Counted(
                "push_repo, admin/put0",
                {ON: self.puts, OFF: self.puts},
                {
                    ON: sc.count_log_entries(on, "put0", "push_repo"),
                    OFF: sc.count_log_entries(off, "put0", "push_repo"),
                },
            ),
        ]


def _two_cores() -> tuple[int, int] | None:
    """A core for the servers and one for the clients, where this system lets us choose."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else None


@contextlib.contextmanager
def _spawning_on(core: int) -> Iterator[None]:
    """Processes started inside run on `core`: they inherit the affinity of the thread that starts them."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run(root: Path, args: argparse.Namespace) -> tuple[list[Series], list[Counted]]:
    servers = [
        start_distribution(root, token_auth=not args.no_auth, bcrypt_cost=args.bcrypt_cost),
        start_wharf(root, args.workers),
        start_wharf(root, args.workers, OFF, {"ACTION_LOG_PULLS": "false"}),
    ]
    try:
        bench = AuditRun(servers, args.quick)
        bench.warm_up()
        for r in range(args.rounds):
            bench.round(r)
        return bench.series, bench.count(args.rounds)
    finally:
        for s in servers:
            s.stop()


def _cell(figures: list[float]) -> str:
    if not figures:
        return "-"
    median = statistics.median(figures)
    if len(figures) < 2:
        return f"{median:,.1f}"
    return f"{median:,.1f} ({min(figures):,.0f}-{max(figures):,.0f})"


def _ratio(ratios: list[float]) -> str:
    median = statistics.median(ratios)
    if len(ratios) < 2:
        return f"{median:.3f}"
    return f"{median:.3f} ({min(ratios):.2f}-{max(ratios):.2f})"


def _versus(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def render(series: list[Series], counted: list[Counted], header: str, rounds: int) -> str:
    lines = [
        header,
        "",
        f"Median of {rounds} rounds (lowest-highest). on/off: Wharf with pull logs over Wharf without,"
        " paired round by round; for rates below 1.0 means logging costs, for CPU above 1.0 does."
        " Manifest PUTs log in both (push_repo cannot be turned off): their on/off is noise alone.",
        "",
        "| scenario | unit | distribution | Wharf, logs on | Wharf, pull logs off | on/off "
        "| Wharf (on) vs distribution |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in series:
        better = "" if s.higher_is_better else " (lower is better)"
        lines.append(
            f"| {s.name} | {s.unit}{better} | {_cell(s.figures[DIST])} | {_cell(s.figures[ON])} "
            f"| {_cell(s.figures[OFF])} | {_ratio(s.on_off())} | {_versus(s.versus_distribution())} |"
        )
    lines += ["", "| usage-log entries after the run | expected (logs on / off) | found (logs on / off) |"]
    lines.append("|---|---:|---:|")
    for c in counted:
        lines.append(
            f"| {c.what} | {c.expected[ON]:,} / {c.expected[OFF]:,} | {c.found[ON]:,} / {c.found[OFF]:,} |"
        )
    return "\n".join(lines)


def check(counted: list[Counted]) -> list[str]:
    """What contradicts the logging the comparison relies on: with logs on, at least every counted
    request wrote its entry; with pull logs off, none did; push entries written in both."""
    problems = []
    for c in counted:
        for server in (ON, OFF):
            expected, found = c.expected[server], c.found[server]
            if found < expected or (expected == 0 and found != 0):
                problems.append(f"{c.what}: {server} wrote {found:,} entries, expected {expected:,}")
    return problems

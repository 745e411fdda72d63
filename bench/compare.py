"""The default run: Wharf next to CNCF distribution behind a token server, measured as docker uses a
registry, in interleaved runs.

Set-up (untimed, once per server): the blobs and images the pull scenarios read, the tags the
listing scenarios walk, and the users of the logins scenario (on Wharf through its superuser API
as admin, on distribution in the token server's users file). Then `runs` runs (default 3): in
each run every scenario is measured on both servers back to back, distribution first in even
runs and Wharf first in odd ones. Each row gives the median over the runs and the range; its
ratio is the median (and range) of the runs' ratios, paired run by run, oriented so that above
1.0 means Wharf did better.

Tokens: every measured image operation of the many-client scenarios (32 clients pulling an
image, creating repositories, mixed) starts as docker's does, with GET /v2/, the challenge, and a
new token for that repository from the realm, inside the timing. The single-stream rows (blob
pushes and pulls, manifest PUTs and GETs, tag walks) fetch a new token for the repository before
the clock in each run: they measure the data path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import dockerlike as dl
from bench import scenarios as sc
from bench.servers import Server

MB = 1024 * 1024
LOGIN_SCOPE = "repository:{user}/app:pull,push"
SAME_USER = "lsame"


@dataclass(frozen=True)
class Params:
    runs: int
    puts: int  # manifest PUTs per run
    wrk_seconds: int
    layer: int  # bytes of each of the 3 layers the 32 clients pull
    repos: int  # repositories created per run
    mixed_seconds: float
    tag_counts: tuple[int, ...]
    login_seconds: float  # per measurement of repeated logins
    distinct: tuple[tuple[int, int], ...]  # (clients, logins) per measurement of first logins
    burst: int = 64  # clients logging in at once, each with its own first login
    mixed_sizes: tuple[int, ...] = (1 * MB, 10 * MB)
    blob: int = 64 * MB
    pulls: tuple[tuple[int, int], ...] = ((32 * MB, 3), (256 * MB, 1))  # (size, GETs per run)
    big: bool = False
    only: tuple[str, ...] = ()  # run only the scenarios whose label holds one of these (--only)

    def wants(self, label: str) -> bool:
        return not self.only or any(o in label for o in self.only)

    @staticmethod
    def of(args: argparse.Namespace) -> Params:
        runs = args.runs
        if args.quick:
            return Params(
                runs=runs,
                puts=200,
                wrk_seconds=2,
                layer=4 * MB,
                repos=100,
                mixed_seconds=4,
                tag_counts=(2000,),
                login_seconds=1.5,
                distinct=((1, 8), (8, 16), (32, 32)),
                big=args.big,
                only=tuple(args.only or ()),
            )
        return Params(
            runs=runs,
            puts=1000,
            wrk_seconds=5,
            layer=16 * MB,
            repos=200,
            mixed_seconds=10,
            tag_counts=(2000, 10_000),
            login_seconds=3,
            distinct=((1, 32), (8, 64), (32, 128)),
            big=args.big,
            only=tuple(args.only or ()),
        )

    def users_per_run(self) -> int:
        return sum(n for _, n in self.distinct) + self.burst


@dataclass
class Row:
    """One scenario: one figure per run for each server, by server name."""

    name: str
    unit: str
    higher_is_better: bool = True
    figures: dict[str, list[float]] = field(default_factory=dict)

    def add(self, server: str, value: float) -> None:
        self.figures.setdefault(server, []).append(value)

    def ratios(self, server: str, baseline: str) -> list[float]:
        """`server` against `baseline` run by run, above 1.0 when `server` did better."""
        out = []
        for a, b in zip(self.figures.get(server, []), self.figures.get(baseline, []), strict=False):
            if math.isnan(a) or math.isnan(b):
                continue
            if self.higher_is_better:
                out.append(a / b if b else math.inf)
            else:
                out.append(b / a if a else math.inf)
        return out


class Comparison:
    def __init__(self, root: Path, servers: list[Server], params: Params) -> None:
        self.root = root
        self.servers = servers
        self.p = params
        self.sessions = {s.name: sc.Session(s) for s in servers}
        self.rows: dict[str, Row] = {}
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.users: dict[str, list[tuple[str, str]]] = {}  # first-login users, by server
        self.same: dict[str, tuple[str, str]] = {}
        self.gets: dict[str, sc.ManifestUrls] = {}
        self.files: dict[tuple[str, str], Path] = {}
        self.pull_blobs: dict[tuple[str, int], str] = {}
        self.tag_walks: dict[str, int] = {}  # responses of the last paged walk, by server and count
        self._login_cpu_acc: dict[tuple[str, str, int], list[float]] = {}  # CPU s, logins
        self._declare()

    # ---- rows

    def _declare(self) -> None:
        p = self.p

        def row(key: str, name: str, unit: str, higher: bool = True) -> None:
            self.rows[key] = Row(name, unit, higher)

        row("idle_rss", "idle RSS after start-up (Wharf target ≤ 80 MiB)", "MiB", False)
        sizes = [p.blob] + ([1024 * MB] if p.big else [])
        for size in sizes:
            row(f"mono{size}", f"monolithic push {_size(size)}", "MiB/s")
            row(f"chunked{size}", f"chunked push {_size(size)} (8 MiB chunks)", "MiB/s")
        for size, n in self._pull_sizes():
            row(f"pull{size}", f"pull a {_size(size)} blob ({n} GET{'s' if n > 1 else ''} per run)", "MiB/s")
        row("put", f"manifest PUT, 8 clients ({p.puts} per run)", "PUT/s")
        row("get_tag", "manifest GET by tag, 32 clients", "req/s")
        row("get_digest", "manifest GET by digest, 32 clients", "req/s")
        row(
            "pull32",
            f"32 clients pull one image (3 x {_size(p.layer)} layers; ping, token, manifest, blobs each)",
            "MiB/s",
        )
        row(
            "create",
            f"create {p.repos} repositories by pushing (8 clients; ping, token, image each)",
            "repos/s",
        )
        for size in p.mixed_sizes:
            row(
                f"mixed{size}",
                f"mixed: 64 clients, 75% pulls / 25% pushes of {_size(size)} images, token per image",
                "images/s",
            )
        for count in p.tag_counts:
            row(f"tags{count}_whole", f"walk {count:,} tags, whole (no n, follow Link)", "ms", False)
            row(f"tags{count}_pages", f"walk {count:,} tags, pages of 1,000", "ms", False)
        for clients in (1, 8, 32):
            row(
                f"login_same{clients}",
                f"logins, same credentials, {clients} client{'s' * (clients > 1)}",
                "tokens/s",
            )
        for clients, n in p.distinct:
            row(
                f"login_distinct{clients}",
                f"logins, distinct users (first login each), {clients} client{'s' * (clients > 1)}, "
                f"{n} logins",
                "tokens/s",
            )
        row("login_burst", f"logins, {p.burst} distinct users at once", "tokens/s")
        row(
            "login_burst_rss",
            f"peak RSS during {p.burst} concurrent logins (Wharf target ≤ 200 MiB)",
            "MiB",
            False,
        )
        row("login_cpu_same", "server CPU per login, same credentials", "ms", False)
        row("login_cpu_distinct", "server CPU per login, distinct users", "ms", False)
        row("cpu_total", "server CPU time over the whole run, set-up included", "s", False)
        row("peak_rss", "server peak RSS over the whole run", "MiB", False)

    def _pull_sizes(self) -> list[tuple[int, int]]:
        return list(self.p.pulls) + ([(1024 * MB, 1)] if self.p.big else [])

    def add(self, key: str, server: Server, value: float) -> None:
        self.rows[key].add(server.name, value)

    # ---- set-up

    def setup(self) -> None:
        for s in self.servers:
            _say(f"set-up: {s.name}...")
            x = self.sessions[s.name]
            with s.metered():
                self._setup(x)

    def _setup(self, x: sc.Session) -> None:
        """What the steps to run (`steps`, --only) read, and nothing else."""
        p = self.p
        self._setup_blobs(x)
        if p.wants("manifest GET"):
            self.gets[x.server.name] = sc.manifest_get_targets(x)
        self._setup_images(x)
        for count in p.tag_counts:
            if p.wants(f"walk {count} tags"):
                _say(f"set-up: {x.server.name}: {count:,} tags...")
                _populate_tags(x, x.repo(f"tags{count}"), count)
        # Any login step wanted (`--only "at once"` names none of the others) needs the users.
        if x.server.needs_auth and any(label.startswith("logins") for label, _, _ in self.steps()):
            _say(f"set-up: {x.server.name}: {1 + p.runs * p.users_per_run()} users...")
            self._create_users(x)

    def _setup_blobs(self, x: sc.Session) -> None:
        """The files the blob pushes send and the blobs the blob pulls read."""
        s = x.server
        p = self.p
        for size in [p.blob] + ([1024 * MB] if p.big else []):
            for kind in ("mono", "chunked"):
                if not p.wants(f"{'monolithic' if kind == 'mono' else 'chunked'} push {_size(size)}"):
                    continue
                path = self.root / f"{s.name}-{kind}-{size}.bin"
                sc.random_file(path, size)
                self.files[(s.name, f"{kind}{size}")] = path
        for size, _ in self._pull_sizes():
            if not p.wants(f"pull {_size(size)}"):
                continue
            path, digest = sc.random_file(self.root / f"{s.name}-pull-{size}.bin", size)
            _curl_put(x, x.repo("blobs"), path, digest)
            self.pull_blobs[(s.name, size)] = digest
            path.unlink()

    def _setup_images(self, x: sc.Session) -> None:
        """The images that 32 clients pull and that the mixed workloads pull."""
        p = self.p
        if p.wants("32 clients pull an image"):
            repo = x.repo("pull3")
            x.put_manifest(repo, "v1", x.image(repo, [os.urandom(p.layer) for _ in range(3)]))
        for size in p.mixed_sizes:
            if not p.wants(f"mixed {_size(size)}"):
                continue
            for k in range(4):
                repo = x.repo(f"mixed{size // MB}m-pull{k}")
                layers = dl.fresh_layers(size, os.urandom(size))
                x.put_manifest(repo, "latest", x.image(repo, layers))

    def _create_users(self, x: sc.Session) -> None:
        """The logins scenario's users: one for repeated logins, and a fresh one for each first login."""
        names = [SAME_USER] + [f"lu{i:04d}" for i in range(self.p.runs * self.p.users_per_run())]
        if x.server.kind == "wharf":
            created = _create_wharf_users(x, names)
        else:
            assert x.server.token_auth is not None
            created = dict.fromkeys(names, x.server.password)
            x.server.token_auth.add_users(created)
        self.same[x.server.name] = (SAME_USER, created[SAME_USER])
        self.users[x.server.name] = [(n, created[n]) for n in names[1:]]

    # ---- runs

    def steps(self) -> list[tuple[str, Callable[..., None], dict[str, int]]]:
        """(label, method, its keyword arguments): each method takes (session, run, **kwargs)."""
        p = self.p
        out: list[tuple[str, Callable[..., None], dict[str, int]]] = []
        for size in [p.blob] + ([1024 * MB] if p.big else []):
            out.append((f"monolithic push {_size(size)}", self._mono, {"size": size}))
            out.append((f"chunked push {_size(size)}", self._chunked, {"size": size}))
        for size, n in self._pull_sizes():
            out.append((f"pull {_size(size)}", self._pull, {"size": size, "n": n}))
        out.append(("manifest PUT", self._puts, {}))
        out.append(("manifest GET", self._gets, {}))
        out.append(("32 clients pull an image", self._pull32, {}))
        out.append(("create repositories", self._create, {}))
        for size in p.mixed_sizes:
            out.append((f"mixed {_size(size)}", self._mixed, {"size": size}))
        for count in p.tag_counts:
            out.append((f"walk {count} tags", self._tags, {"count": count}))
        for clients in (1, 8, 32):
            out.append((f"logins, same, {clients}", self._login_same, {"clients": clients}))
        first = 0
        for clients, n in p.distinct:
            args = {"clients": clients, "first": first, "n": n}
            out.append((f"logins, distinct, {clients}", self._login_distinct, args))
            first += n
        out.append((f"logins, {p.burst} at once", self._login_burst, {"first": first}))
        return [step for step in out if p.wants(step[0])]

    def run(self) -> None:
        steps = self.steps()
        for r in range(self.p.runs):
            order = self.servers if r % 2 == 0 else self.servers[::-1]
            for label, step, kwargs in steps:
                for s in order:
                    _say(f"run {r + 1}/{self.p.runs}: {label}: {s.name}...")
                    with s.metered():
                        step(self.sessions[s.name], r, **kwargs)

    def finish(self) -> None:
        for s in self.servers:
            token = s.token_auth.cpu_seconds() if s.token_auth is not None else 0.0
            self.add("cpu_total", s, s.cpu_seconds() + token)
            self.add("peak_rss", s, s.peak_rss / MB)

    # ---- scenarios

    def _mono(self, x: sc.Session, r: int, size: int) -> None:
        blob = _refresh(self.files[(x.server.name, f"mono{size}")])
        self.add(f"mono{size}", x.server, sc.push_monolithic(x, blob))

    def _chunked(self, x: sc.Session, r: int, size: int) -> None:
        blob = _refresh(self.files[(x.server.name, f"chunked{size}")])
        self.add(f"chunked{size}", x.server, sc.push_chunked(x, blob))

    def _pull(self, x: sc.Session, r: int, size: int, n: int) -> None:
        repo = x.repo("blobs")
        h = x.bearer(f"repository:{repo}:pull")
        digest = self.pull_blobs[(x.server.name, size)]
        seconds = sum(_curl_get(x, repo, digest, size, h) for _ in range(n))
        self.add(f"pull{size}", x.server, n * size / MB / seconds)

    def _puts(self, x: sc.Session, r: int) -> None:
        """Distinct manifests on distinct tags of a new repository, 8 clients with a token each."""
        repo = x.repo(f"puts{r}")
        base = x.image(repo, [os.urandom(1024)])
        scope = f"repository:{repo}:pull,push"
        tokens = [x.bearer(scope) for _ in range(8)]
        count = self.p.puts

        def work(i: int) -> None:
            with httpx.Client(base_url=x.server.url, timeout=60) as c:
                for j in range(i, count, 8):
                    body = json.dumps({**base, "annotations": {"n": str(j)}}).encode()
                    h = {**tokens[i], "Content-Type": base["mediaType"]}
                    resp = c.put(f"/v2/{repo}/manifests/t{j}", content=body, headers=h)
                    assert resp.status_code == 201, resp.text

        t = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))
        self.add("put", x.server, count / (time.perf_counter() - t))

    def _gets(self, x: sc.Session, r: int) -> None:
        t = self.gets[x.server.name]
        h = {**x.bearer(f"repository:{x.repo('gets')}:pull"), "Accept": sc.OCI_MANIFEST}
        self.add("get_tag", x.server, sc.wrk(t.by_tag, h, self.p.wrk_seconds))
        self.add("get_digest", x.server, sc.wrk(t.by_digest, h, self.p.wrk_seconds))

    def _pull32(self, x: sc.Session, r: int) -> None:
        """32 clients at once, each: ping, token, then curl GETs the manifest and the 3 layers."""
        repo = x.repo("pull3")
        resp = x.http.get(
            f"/v2/{repo}/manifests/v1",
            headers={**x.auth(f"repository:{repo}:pull"), "Accept": sc.OCI_MANIFEST},
        )
        layers = [layer["digest"] for layer in resp.json()["layers"]]
        urls = [f"{x.server.url}/v2/{repo}/manifests/v1"] + [
            f"{x.server.url}/v2/{repo}/blobs/{d}" for d in layers
        ]

        def client(_: int) -> None:
            h = _sync_session(x.server, f"repository:{repo}:pull")
            cmd = ["curl", "-sS", "-f", "-L", "-H", f"Accept: {sc.OCI_MANIFEST}"]
            for k, v in h.items():
                cmd += ["-H", f"{k}: {v}"]
            for u in urls:
                cmd += ["-o", "/dev/null", u]
            subprocess.run(cmd, check=True)

        t = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(client, range(32)))
        self.add("pull32", x.server, 32 * 3 * self.p.layer / MB / (time.perf_counter() - t))

    def _create(self, x: sc.Session, r: int) -> None:
        names = tuple(x.repo(f"new{r}/r{i:04d}") for i in range(self.p.repos))
        job = dl.Job("create", x.server.url, x.server.username, x.server.password, clients=8, items=names)
        report = self._job(x, "create repositories", job)
        self.add("create", x.server, report.rate("create"))

    def _mixed(self, x: sc.Session, r: int, size: int) -> None:
        pull = tuple(x.repo(f"mixed{size // MB}m-pull{k}") for k in range(4))
        push = tuple(x.repo(f"mixed{size // MB}m-push{k}") for k in range(8))
        job = dl.Job(
            "mixed",
            x.server.url,
            x.server.username,
            x.server.password,
            clients=64,
            seconds=self.p.mixed_seconds,
            pull_repos=pull,
            push_repos=push,
            image_size=size,
        )
        report = self._job(x, f"mixed {_size(size)}", job, processes=2)
        self.add(f"mixed{size}", x.server, report.rate("pull", "push"))

    def _tags(self, x: sc.Session, r: int, count: int) -> None:
        repo = x.repo(f"tags{count}")
        h = x.bearer(f"repository:{repo}:pull")
        whole, pages = [], []
        for _ in range(3):
            t = time.perf_counter()
            seen, _ = _walk_tags(x, f"/v2/{repo}/tags/list", h)
            whole.append((time.perf_counter() - t) * 1000)
            assert seen == count, (seen, count)
            t = time.perf_counter()
            seen, responses = _walk_tags(x, f"/v2/{repo}/tags/list?n=1000", h)
            pages.append((time.perf_counter() - t) * 1000)
            assert seen == count, (seen, count)
            self.tag_walks[f"{x.server.name} {count}"] = responses
        self.add(f"tags{count}_whole", x.server, statistics.median(whole))
        self.add(f"tags{count}_pages", x.server, statistics.median(pages))

    def _login_job(
        self, x: sc.Session, clients: int, items: tuple[str, ...] = (), seconds: float = 0
    ) -> dl.Job:
        user, password = self.same[x.server.name]
        return dl.Job(
            "login",
            x.server.url,
            user,
            password,
            clients=clients,
            seconds=seconds,
            items=items,
            scope=LOGIN_SCOPE,
        )

    def _login_cpu(self, s: Server) -> float:
        return s.cpu_seconds() + (s.token_auth.cpu_seconds() if s.token_auth is not None else 0.0)

    def _login_same(self, x: sc.Session, r: int, clients: int) -> None:
        if not x.server.needs_auth:
            return
        before = self._login_cpu(x.server)
        report = self._job(x, "logins", self._login_job(x, clients, seconds=self.p.login_seconds))
        self._login_figures(x, r, f"login_same{clients}", report, before, "same")

    def _login_distinct(self, x: sc.Session, r: int, clients: int, first: int, n: int) -> None:
        if not x.server.needs_auth:
            return
        at = r * self.p.users_per_run() + first
        items = tuple(f"{u}:{pw}" for u, pw in self.users[x.server.name][at : at + n])
        before = self._login_cpu(x.server)
        report = self._job(x, "logins", self._login_job(x, clients, items))
        self._login_figures(x, r, f"login_distinct{clients}", report, before, "distinct")

    def _login_burst(self, x: sc.Session, r: int, first: int) -> None:
        if not x.server.needs_auth:
            return
        at = r * self.p.users_per_run() + first
        items = tuple(f"{u}:{pw}" for u, pw in self.users[x.server.name][at : at + self.p.burst])
        before = self._login_cpu(x.server)
        x.server.reset_window()
        report = self._job(x, "logins", self._login_job(x, self.p.burst, items))
        time.sleep(0.1)  # one more sample of the memory watcher
        self.add("login_burst_rss", x.server, x.server.window_peak / MB)
        self._login_figures(x, r, "login_burst", report, before, "distinct")

    def _login_figures(
        self, x: sc.Session, r: int, key: str, report: dl.Report, cpu_before: float, kind: str
    ) -> None:
        self.add(key, x.server, report.rate("login"))
        cpu = self._login_cpu(x.server) - cpu_before
        acc = self._login_cpu_acc.setdefault((x.server.name, kind, r), [0.0, 0])
        acc[0] += cpu
        acc[1] += report.done["login"]

    def _job(self, x: sc.Session, what: str, job: dl.Job, processes: int = 0) -> dl.Report:
        report = dl.run(job, processes)
        if report.errors:
            lines = [f"{x.server.name}, {what}: {sum(report.errors.values())} errors"]
            lines += [f"  {n} x {k}" for k, n in report.errors.most_common()]
            lines += [f"    e.g. {e}" for e in report.examples]
            self.errors.append("\n".join(lines))
            print(lines[0], file=sys.stderr, flush=True)
        return report


_T0 = time.monotonic()


def _say(text: str) -> None:
    print(f"  [{time.monotonic() - _T0:5.0f} s] {text}", file=sys.stderr, flush=True)


def _size(n: int) -> str:
    if n >= 1024 * MB:
        return f"{n // (1024 * MB)} GiB"
    return f"{n // MB} MiB" if n >= MB else f"{n // 1024} KiB"


def _refresh(path: Path) -> tuple[Path, str]:
    """New content for a push: a new random start on the same file, and its digest."""
    with path.open("r+b") as f:
        f.write(os.urandom(64))
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MB):
            h.update(block)
    return path, "sha256:" + h.hexdigest()


def _curl_put(x: sc.Session, repo: str, path: Path, digest: str) -> None:
    location = x.start_upload(repo)
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            *x.curl_auth(repo),
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
            str(path),
            sc._with_digest(location, digest),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "201", out


def _curl_get(x: sc.Session, repo: str, digest: str, size: int, headers: dict[str, str]) -> float:
    """Seconds curl took to GET the blob (following a redirect to an object store)."""
    auth = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-f",
            "-L",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
            *auth,
            f"{x.server.url}/v2/{repo}/blobs/{digest}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    received, seconds = out.stdout.split()
    assert int(received) == size, out
    return float(seconds)


def _sync_session(server: Server, scope: str) -> dict[str, str]:
    """What docker does before a pull, in a thread: GET /v2/, the challenge, a token for `scope`."""
    try:
        with urllib.request.urlopen(f"{server.url}/v2/", timeout=60):
            return {}  # no authentication asked for
    except urllib.error.HTTPError as e:
        if e.code != 401:
            raise
        challenge = dl.parse_challenge(e.headers.get("WWW-Authenticate", ""))
    query = urllib.parse.urlencode({"service": challenge.get("service", ""), "scope": scope})
    req = urllib.request.Request(
        f"{challenge['realm']}?{query}", headers={"Authorization": dl.basic(server.username, server.password)}
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = json.loads(resp.read())
    return {"Authorization": f"Bearer {body.get('token') or body['access_token']}"}


def _walk_tags(x: sc.Session, first: str, headers: dict[str, str]) -> tuple[int, int]:
    """Tags seen and responses, following Link headers."""
    url: str | None = first
    seen = responses = 0
    while url:
        r = x.http.get(url, headers=headers)
        assert r.status_code == 200, r.text
        seen += len(r.json()["tags"] or [])
        responses += 1
        link = r.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
    return seen, responses


def _populate_tags(x: sc.Session, repo: str, count: int) -> None:
    """`count` tags on one manifest, PUT by 16 clients at once."""
    import asyncio

    from bench import http1

    manifest = x.image(repo, [os.urandom(512)])
    body = json.dumps(manifest).encode()
    h = {**x.auth(f"repository:{repo}:pull,push"), "Content-Type": manifest["mediaType"]}

    async def main() -> None:
        clients = [http1.Client(x.server.url) for _ in range(16)]

        async def worker(i: int) -> None:
            for j in range(i, count, 16):
                r = await clients[i].request("PUT", f"/v2/{repo}/manifests/tag{j:05d}", h, body)
                assert r.status == 201, r.text

        try:
            await asyncio.gather(*(worker(i) for i in range(16)))
        finally:
            for c in clients:
                c.close()

    asyncio.run(main())


def _create_wharf_users(x: sc.Session, names: list[str]) -> dict[str, str]:
    """Create the users through the API as admin (POST /api/v1/superuser/users/): their passwords."""
    with httpx.Client(base_url=x.server.url, timeout=120) as c:
        csrf = c.get("/csrf_token").json()["csrf_token"]
        r = c.post(
            "/api/v1/signin",
            json={"username": x.server.username, "password": x.server.password},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200, r.text
        csrf = r.headers.get("X-Next-CSRF-Token") or c.get("/csrf_token").json()["csrf_token"]
        lock = threading.Lock()
        out: dict[str, str] = {}

        def create(name: str) -> None:
            resp = c.post("/api/v1/superuser/users/", json={"username": name}, headers={"X-CSRF-Token": csrf})
            assert resp.status_code == 200, resp.text
            with lock:
                out[name] = resp.json()["password"]

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, names))
    return out


def machine(args: argparse.Namespace) -> str:
    return (
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"mode: {'quick' if args.quick else 'full'}{' + big' if args.big else ''}"
    )


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _cell(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) < 2:
        return _fmt(med)
    return f"{_fmt(med)} ({_fmt(min(values))}-{_fmt(max(values))})"


def _ratio_cell(ratios: list[float]) -> str:
    if not ratios:
        return "-"
    med = statistics.median(ratios)
    if len(ratios) < 2:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def render(c: Comparison, header: list[str]) -> str:
    dist, wharf = (s.name for s in c.servers)
    lines = [
        *header,
        "",
        f"Median of {c.p.runs} interleaved runs (lowest-highest); ratio: Wharf against distribution,"
        " run by run, above 1.0 = Wharf better.",
        "",
        "| scenario | unit | distribution | Wharf | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for r in c.rows.values():
        if c.p.only and all(math.isnan(v) for values in r.figures.values() for v in values):
            continue  # a scenario --only left out
        better = "" if r.higher_is_better else " (lower is better)"
        d, w = _cell(r.figures.get(dist, [])), _cell(r.figures.get(wharf, []))
        lines.append(f"| {r.name} | {r.unit}{better} | {d} | {w} | {_ratio_cell(r.ratios(wharf, dist))} |")
    if c.notes:
        lines += ["", *[f"- {n}" for n in c.notes]]
    return "\n".join(lines)


def main(args: argparse.Namespace, servers: list[Server], root: Path) -> tuple[str, list[str]]:
    """Run the comparison on [distribution, wharf]; returns the table and the errors seen."""
    params = Params.of(args)
    comparison = Comparison(root, servers, params)
    for s in servers:
        comparison.add("idle_rss", s, s.rss() / MB)
    idle = {s.name: s.rss() / MB for s in servers}
    t0 = time.monotonic()
    comparison.setup()
    setup_s = time.monotonic() - t0
    comparison.run()
    comparison.finish()
    for s in servers:
        for kind in ("same", "distinct"):
            for r in range(params.runs):
                cpu, n = comparison._login_cpu_acc.get((s.name, kind, r), [math.nan, 0])
                comparison.add(f"login_cpu_{kind}", s, cpu / n * 1000 if n else math.nan)
    notes = comparison.notes
    notes.append(f"set-up took {setup_s:.0f} s, the runs {time.monotonic() - t0 - setup_s:.0f} s")
    for s in servers:
        if s.token_auth is not None:
            notes.append(
                f"{s.name} runs behind bench/token_server.py (bcrypt cost {s.token_auth.cost}); its CPU "
                f"counts with {s.name}'s, and so does its memory (idle {s.token_auth.rss() / MB:.0f} MiB "
                f"of the {idle[s.name]:.0f} MiB)"
            )
        elif s.kind == "distribution":
            notes.append(f"{s.name} runs without authentication (--no-auth): no logins, no tokens")
    for count in params.tag_counts:
        walks = {name.split()[0]: n for name, n in comparison.tag_walks.items() if name.endswith(f" {count}")}
        for name, n in walks.items():
            if n == 1 and count > 1000:
                notes.append(
                    f"{name} ignores `n` on tag lists: its walk of {count:,} tags in pages of 1,000 "
                    "is one answer"
                )
    return render(comparison, [machine(args)]), comparison.errors

"""Repository mirroring (issue 18): a sync of --tags tags from an upstream registry, next to what
Quay's mirror worker runs (skopeo) copying the same into distribution.

    python -m bench.mirror [--quick] [--runs N] [--tags N] [--markdown FILE]

Starts an upstream (CNCF distribution without authentication, standing for quay.io or Docker
Hub), Wharf on its embedded defaults (SQLite, one process, jobs inside, FEATURE_REPO_MIRROR on,
the loopback upstream allowed by SSRF_ALLOWED_HOSTS) and distribution behind the bench's token
server, as `make bench` does. Set-up, untimed: one upstream repository per run, `src<r>`, with
--tags tags, each its own image (the same 1 MiB base layer and config in all, and a 32 KiB layer of
its own), as a project's release tags share their base.

In each of --runs interleaved runs (the order reversed every other run):

- **Wharf**: a new repository `admin/mirror<r>` is made a mirror of `src<r>` with the rule `*`
  through Quay's API (createRepoMirrorConfig, which queues the first sync); timed from the POST
  until getRepoMirrorConfig says SYNC_SUCCESS (polled every 0.2 s; the job runner looks for work
  every 2 s, which the figure includes, as a user waiting for it sees).
- **distribution**: `skopeo sync --src docker --dest docker` of `src<r>` into `bench/`: what a
  Quay mirror worker runs (it calls skopeo copy tag by tag). The CPU of skopeo counts with
  distribution's (the copy's work is skopeo's, the server only stores).

Reports tags/s and CPU per tag (server, and skopeo for distribution); the ratio is Wharf against
distribution run by run, above 1.0 when Wharf did better. Prints Markdown; nothing asserts. Not
part of `make bench`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import httpx

from bench.compare import Row, _cell, _ratio_cell
from bench.scenarios import Session
from bench.servers import NO_SCANNER, PASSWORD, Server, start_distribution, start_wharf

BASE_LAYER: Final = 1024 * 1024
OWN_LAYER: Final = 32 * 1024
WHARF_SETTINGS: Final = {
    **NO_SCANNER,
    "FEATURE_REPO_MIRROR": "true",
    "SSRF_ALLOWED_HOSTS": '["127.0.0.1"]',
}


def _say(text: str) -> None:
    print(f"[bench.mirror] {text}", flush=True)


def _populate(upstream: Server, repo: str, tags: int) -> None:
    """`tags` tags in `repo`, each its own image sharing a base layer (8 clients)."""
    sessions = [Session(upstream) for _ in range(8)]
    # The shared config and base layer go up once, before the clients start, as docker skips a
    # blob the registry has: distribution rewrites a blob's link file in place on every push of
    # it, and a manifest PUT that reads the link meanwhile finds it empty (DIGEST_INVALID).
    shared = sessions[0].image(repo, [os.urandom(BASE_LAYER)])

    def work(i: int) -> None:
        x = sessions[i % 8]
        for j in range(i, tags, 8):
            own = os.urandom(OWN_LAYER)
            layer = {**shared["layers"][0], "digest": x.push_bytes(repo, own), "size": len(own)}
            x.put_manifest(repo, f"v{j:04d}", {**shared, "layers": [*shared["layers"], layer]})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))


def _wharf_api(server: Server) -> httpx.Client:
    """A signed-in browser session of Wharf's admin, as the web UI calls the API."""
    c = httpx.Client(base_url=server.url, timeout=120)
    csrf = c.get("/csrf_token").json()["csrf_token"]
    r = c.post(
        "/api/v1/signin",
        json={"username": server.username, "password": server.password},
        headers={"X-CSRF-Token": csrf},
    )
    r.raise_for_status()
    after = r.headers.get("X-Next-CSRF-Token") or c.get("/csrf_token").json()["csrf_token"]
    c.headers["X-CSRF-Token"] = after
    r = c.put("/api/v1/user/robots/mirror", json={})
    assert r.status_code in (200, 201), r.text
    return c


def _wharf_sync(api: httpx.Client, upstream: Server, run: int, tags: int) -> float:
    """Seconds from making the repository a mirror to its first sync's success."""
    name = f"mirror{run}"
    body = {"namespace": "admin", "repository": name, "visibility": "private", "description": ""}
    r = api.post("/api/v1/repository", json=body)
    assert r.status_code in (200, 201), r.text
    config: dict[str, Any] = {
        "external_reference": f"{upstream.host}/src{run}",
        "sync_interval": 86400,
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
        "robot_username": "admin+mirror",
        "external_registry_config": {"verify_tls": False},
        "skopeo_timeout_interval": 300,
    }
    url = f"/api/v1/repository/admin/{name}/mirror"
    t0 = time.monotonic()
    r = api.post(url, json=config)
    assert r.status_code == 201, r.text
    while True:
        state = api.get(url).json()
        if state["sync_status"] in ("SYNC_SUCCESS", "SYNC_FAILED"):
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    assert state["sync_status"] == "SYNC_SUCCESS", state
    assert state["tags_done"] == tags, state
    return elapsed


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _skopeo_sync(upstream: Server, dest: Server, run: int) -> tuple[float, float]:
    """Seconds and skopeo's CPU seconds of a `skopeo sync` of src<run> into dest's namespace."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise SystemExit("skopeo is not installed: apt-get install skopeo")
    cmd = [
        skopeo,
        "sync",
        "--src",
        "docker",
        "--dest",
        "docker",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{dest.username}:{PASSWORD}",
        f"{upstream.host}/src{run}",
        f"{dest.host}/{dest.namespace}",
    ]
    cpu0, t0 = _children_cpu(), time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - t0, _children_cpu() - cpu0


def _run(root: Path, args: argparse.Namespace) -> tuple[dict[str, Row], list[str]]:
    tags = args.tags
    upstream = start_distribution(root, "upstream", token_auth=False)
    dist = start_distribution(root)
    wharf = start_wharf(root, None, settings=WHARF_SETTINGS)
    servers = [dist, wharf]
    rows = {
        "rate": Row(f"mirror {tags} tags (one image each) from an upstream, first sync", "tags/s"),
        "cpu": Row("CPU per tag (server; + skopeo for distribution)", "ms", higher_is_better=False),
    }
    notes: list[str] = []
    try:
        t0 = time.monotonic()
        for r in range(args.runs):
            _say(f"set-up: {tags} tags in src{r}...")
            _populate(upstream, f"src{r}", tags)
        notes.append(f"set-up took {time.monotonic() - t0:.0f} s")
        api = _wharf_api(wharf)
        for r in range(args.runs):
            for s in servers if r % 2 == 0 else servers[::-1]:
                _say(f"run {r + 1}/{args.runs}: {s.name}...")
                cpu0 = s.cpu_seconds()
                if s is wharf:
                    seconds, client_cpu = _wharf_sync(api, upstream, r, tags), 0.0
                else:
                    seconds, client_cpu = _skopeo_sync(upstream, dist, r)
                cpu = s.cpu_seconds() - cpu0 + client_cpu
                rows["rate"].add(s.name, tags / seconds)
                rows["cpu"].add(s.name, cpu / tags * 1000)
        api.close()
    finally:
        for s in (wharf, dist, upstream):
            s.stop()
    return rows, notes


def render(rows: dict[str, Row], notes: list[str], runs: int) -> str:
    lines = [
        f"Median of {runs} interleaved runs (lowest-highest); ratio: Wharf against skopeo into "
        "distribution, run by run, above 1.0 = Wharf better.",
        "",
        "| scenario | unit | skopeo sync into distribution | Wharf mirror | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows.values():
        better = "" if row.higher_is_better else " (lower is better)"
        d, w = _cell(row.figures.get("distribution", [])), _cell(row.figures.get("wharf", []))
        ratio = _ratio_cell(row.ratios("wharf", "distribution"))
        lines.append(f"| {row.name} | {row.unit}{better} | {d} | {w} | {ratio} |")
    return "\n".join([*lines, "", *[f"- {n}" for n in notes]])


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.mirror", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one run of 20 tags (checks the scenario works)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tags", type=int, default=200)
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.tags = 1, 20
    root = Path(tempfile.mkdtemp(prefix="wharf-bench-mirror-"))
    try:
        rows, notes = _run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = render(rows, notes, args.runs)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()

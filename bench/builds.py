"""Dockerfile builds (issue 20): how long a build waits for a builder, and what a build in Wharf
costs over a bare `buildah bud` of the same Dockerfile.

    python -m bench.builds [--runs N] [--payload-mib N] [--markdown FILE]

Needs buildah and skopeo on PATH (as `wharf builder` does). Starts one `wharf serve` on its
embedded defaults (SQLite, one process, jobs inside; FEATURE_SECURITY_SCANNER off) and one
`wharf builder` on the same data directory, pushing to the server's /v2, in a temporary directory.
The build context is a Dockerfile `FROM scratch` that COPYs one file of --payload-mib random MiB
(no base image: nothing is pulled, so both sides build the same thing from the same bytes; no RUN:
FROM scratch has no shell). Then, --runs times in turn:

1. **Wharf**: the context uploaded as a tar (getFiledropUrl, PUT), requestRepoBuild, and the
   build followed to `complete`. From the build's record and the timestamps of its phase log
   entries: *queue to start* (requested to claimed by the builder: the builder's poll of the queue,
   every 0.5 s, is most of it), *build* (claimed to the `pushing` phase: unpacking the upload, the
   build's own storage and configuration, `buildah bud`), and *push* (`pushing` to `complete`:
   skopeo copying the image to Wharf's /v2 with a token of the build).
2. **bare buildah**: `buildah bud --isolation chroot --pull=false` of the same Dockerfile and
   context, in a fresh vfs storage of its own as the builder gives each build, timed from the
   command's start to its exit.

The overhead is the Wharf build (step 1's *build*) over the bare one, paired run by run; the
goal of issue 20 is under 10 % plus the push. Prints a Markdown table; nothing asserts. Not part
of `make bench`.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from bench.quotas import open_db
from bench.servers import WHARF, Server, start_wharf
from wharf.core import builds
from wharf.db.engine import Database

MiB: Final = 1024 * 1024
REPO: Final = "admin/built"
DOCKERFILE: Final = b"FROM scratch\nCOPY payload /payload\n"


def context_tar(payload: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in (("Dockerfile", DOCKERFILE), ("payload", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


# Wharf ------------------------------------------------------------------------------------------


def admin_api(server: Server, data_dir: Path) -> httpx.Client:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    token = subprocess.run(
        [str(WHARF), "admin", "token", "admin", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=300
    )


def start_builder(server: Server, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env["WHARF_BUILDER_REGISTRY"] = server.url
    cmd = [str(WHARF), "builder", "--data-dir", str(data_dir), "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def request(api: httpx.Client, archive: bytes, tag: str) -> str:
    drop = api.post("/filedrop/", json={"mimeType": "application/x-tar"})
    drop.raise_for_status()
    put = httpx.put(
        drop.json()["url"], content=archive, headers={"Authorization": api.headers["Authorization"]}
    )
    put.raise_for_status()
    body = {"file_id": drop.json()["file_id"], "docker_tags": [tag]}
    r = api.post(f"/repository/{REPO}/build/", json=body)
    r.raise_for_status()
    return str(r.json()["id"])


def finished(db: Database, uuid: str, timeout_s: float = 900) -> builds.BuildRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = db.run_read(builds.get, uuid)
        if found is not None and found.terminal:
            return found
        time.sleep(0.2)
    raise SystemExit(f"build {uuid} did not finish in {timeout_s:.0f} s")


def phase_times(db: Database, build: builds.BuildRecord) -> dict[str, int]:
    """Each phase's first time (ms since the epoch), from the build's log."""
    _, entries = db.run_read(builds.read_logs, build.id, 0)
    out: dict[str, int] = {}
    for e in entries:
        if e.get("type") == "phase":
            out.setdefault(e["message"], int(e["data"]["datetime"]))
    return out


# bare buildah -----------------------------------------------------------------------------------


def bare_bud(work: Path, archive: bytes) -> float:
    """`buildah bud` as the builder runs it, in a fresh storage: the seconds it took."""
    work.mkdir()
    context = work / "context"
    context.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(context, filter="data")
    (work / "tmp").mkdir()
    (work / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{work}/storage/root"\nrunroot = "{work}/storage/run"\n'
    )
    (work / "containers.conf").write_text(f'[engine]\ntmp_dir = "{work}/libpod-tmp"\n')
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    env.update(
        CONTAINERS_CONF=str(work / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(work / "storage.conf"),
        BUILDAH_ISOLATION="chroot",
        TMPDIR=str(work / "tmp"),
    )
    cmd = ["buildah", "bud", "--isolation", "chroot", "--pull=false", "-f", str(context / "Dockerfile")]
    began = time.perf_counter()
    subprocess.run(
        [*cmd, "-t", "localhost/bare:latest", str(context)], env=env, check=True, capture_output=True
    )
    took = time.perf_counter() - began
    subprocess.run(["buildah", "rm", "--all"], env=env, capture_output=True)
    _remove(work)
    return took


def _remove(path: Path) -> None:
    def _writable(func: Any, p: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(p), 0o700)
        func(p)

    shutil.rmtree(path, onerror=_writable)


# The runs ---------------------------------------------------------------------------------------


@dataclass
class Figures:
    queue_to_start: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)
    push: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)


def one_run(api: httpx.Client, db: Database, archive: bytes, run: int, root: Path, into: Figures) -> None:
    uuid = request(api, archive, f"run-{run}")
    build = finished(db, uuid)
    if build.phase != builds.COMPLETE:
        raise SystemExit(f"build {uuid} ended {build.phase}: {build.error}")
    at = phase_times(db, build)
    assert build.started_ms is not None and build.completed_ms is not None
    into.queue_to_start.append((build.started_ms - build.created_ms) / 1000)
    into.build.append((at[builds.PUSHING] - build.started_ms) / 1000)
    into.push.append((build.completed_ms - at[builds.PUSHING]) / 1000)
    into.total.append((build.completed_ms - build.created_ms) / 1000)
    into.bare.append(bare_bud(root / f"bare-{run}", archive))
    print(
        f"  run {run + 1}: queue to start {into.queue_to_start[-1]:.2f} s, build {into.build[-1]:.2f} s, "
        f"push {into.push[-1]:.2f} s; bare buildah bud {into.bare[-1]:.2f} s",
        flush=True,
    )


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def _s(v: float) -> str:
    return f"{v:.2f} s"


def render(header: str, f: Figures, payload_mib: int) -> str:
    overhead = [w / b - 1 for w, b in zip(f.build, f.bare, strict=True)]
    runs = len(f.build)
    return "\n".join(
        [
            header,
            "",
            f"A Dockerfile `FROM scratch` COPYing {payload_mib} MiB, {runs} runs (median, range)",
            "",
            "| row | time |",
            "|---|---:|",
            f"| queue to start (requested to claimed by the builder) | {_spread(f.queue_to_start, _s)} |",
            f"| build in Wharf (claimed to pushing) | {_spread(f.build, _s)} |",
            f"| bare `buildah bud`, same Dockerfile and context | {_spread(f.bare, _s)} |",
            f"| overhead of the build in Wharf over the bare one | "
            f"{_spread(overhead, lambda v: f'{v * 100:+.0f} %')} |",
            f"| push (pushing to complete) | {_spread(f.push, _s)} |",
            f"| requested to complete | {_spread(f.total, _s)} |",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.builds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--runs", type=int, default=5, help="builds on each side (default 5)")
    ap.add_argument("--payload-mib", type=int, default=16, help="MiB the Dockerfile COPYs (default 16)")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    missing = [tool for tool in ("buildah", "skopeo") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"{' and '.join(missing)} not found on PATH")
    archive = context_tar(os.urandom(args.payload_mib * MiB))
    root = Path(tempfile.mkdtemp(prefix="wharf-builds-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    server = start_wharf(root, None, "wharf", {"FEATURE_SECURITY_SCANNER": "false"})
    data_dir = root / "wharf"
    builder = start_builder(server, data_dir, root / "builder.log")
    db = open_db(server, root)
    figures = Figures()
    try:
        with admin_api(server, data_dir) as api:
            created = {
                "namespace": "admin",
                "repository": "built",
                "visibility": "private",
                "description": "",
            }
            api.post("/repository", json=created).raise_for_status()
            for run in range(args.runs):
                one_run(api, db, archive, run, root, figures)
    finally:
        db.dispose()
        builder.terminate()
        builder.wait(60)
        server.stop()
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True)
    load_after = os.getloadavg()
    header = (
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} at the start and "
        f"{load_after[0]:.1f} at the end; the run took {time.perf_counter() - started:.0f} s."
    )
    table = render(header, figures, args.payload_mib)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()

"""Vulnerability scanning's figures (issue 16): indexing a big image, re-matching many indexed
manifests after a data update, and pushes with scanning on and off.

    python -m bench.secscan [--quick] [--runs N] [--markdown FILE]

Starts two `wharf serve` on their embedded defaults (SQLite, one process, jobs inside) in a
temporary directory, one with FEATURE_SECURITY_SCANNER on (the default) and one with it off, and
measures:

1. **Indexing**: a 10-layer image of gzip layers of random (incompressible) data, the bottom layer
   with a real dpkg status (this machine's), os-release and a few Python dist-infos, pushed over
   /v2 with curl; then the time from the manifest PUT's answer to the index's `scanned` (polled in
   the database every 50 ms), and the server's resident memory (its process tree, sampled every
   50 ms by psutil): idle, peak while the layers were pushed, peak while it indexed. Images of
   100 MiB and (not with --quick) 1 GiB, so that the peaks can be compared across sizes.
2. **Re-matching**: indexes of --manifests manifests (10,000; 1,000 with --quick), each with the
   first 40 packages of this machine's dpkg status, bulk INSERTed as manifest, index and package
   rows into the server's database (pushing 10,000 images would measure pushes); then OSV records
   naming three source packages present in all of them are imported from a directory
   (services/secscan_update.update, as `wharf secscan update --from DIR`), first new (every
   manifest gets three matches, announced once), then modified (re-matched, nothing announced).
3. **Pushes, scanning on and off**: --pushes small images (a config and one gzip layer with
   os-release, a 40-package dpkg status and 16 KiB of random data) from 4 clients, on each
   server in --runs interleaved runs (the order swapped every run); pushes/s, the median and
   range, and the ratio on/off paired run by run. After each run on the scanning server the run
   waits for its backlog to be indexed (so that it does not steal CPU from the next run), and
   reports how long that took.

Prints Markdown tables; nothing asserts. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import io
import json
import os
import statistics
import subprocess
import sysconfig
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import httpx
from sqlalchemy import func, insert, select

from bench.scenarios import OCI_MANIFEST, Session
from bench.servers import Server, start_wharf
from wharf.config import load_settings
from wharf.core import audit, repositories
from wharf.core import secscan as store
from wharf.core.secscan import PackageRow
from wharf.db.engine import Database, Db
from wharf.db.models import Manifest, SecscanIndex, SecscanPackage
from wharf.secscan.indexer import INDEXER_VERSION, Indexer
from wharf.services import secscan_update
from wharf.services.secscan import package_rows

MiB: Final = 1024 * 1024
BY: Final = audit.Actor(None, "admin")
LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG: Final = "application/vnd.oci.image.config.v1+json"
STANZAS: Final = 40
TOUCHED: Final = 3
BATCH: Final = 5_000
CLIENTS: Final = 4
POLL_S: Final = 0.05
OS_RELEASE: Final = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
)


# Image content -----------------------------------------------------------------------------------


def dpkg_status(stanzas: int | None = None) -> bytes:
    """This machine's dpkg status (a real one), or its first `stanzas` packages."""
    data = Path("/var/lib/dpkg/status").read_bytes()
    if stanzas is None:
        return data
    return b"\n\n".join(data.split(b"\n\n")[:stanzas]) + b"\n"


def dist_infos(count: int = 5) -> dict[str, bytes]:
    """METADATA of `count` packages installed in this environment, as dist-infos of an image."""
    site = Path(sysconfig.get_paths()["purelib"])
    found = sorted(site.glob("*.dist-info/METADATA"))[:count]
    return {f"usr/lib/python3/dist-packages/{m.parent.name}/METADATA": m.read_bytes() for m in found}


class _Random:
    """`size` bytes of random data as a file to read."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


class _Hashing:
    """A file to write that also hashes and counts what goes through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, b: bytes) -> int:
        self.sha.update(b)
        self.size += len(b)
        return self.f.write(b)

    def flush(self) -> None:
        self.f.flush()


def write_layer(out: BinaryIO, files: dict[str, bytes], random_bytes: int) -> tuple[str, int]:
    """A gzip tar layer of `files` and one file of `random_bytes` random bytes; its digest and size."""
    h = _Hashing(out)
    with (
        gzip.GzipFile(fileobj=h, mode="wb", compresslevel=1, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if random_bytes:
            info = tarfile.TarInfo(f"opt/data/{uuid.uuid4().hex}.bin")
            info.size = random_bytes
            tar.addfile(info, _Random(random_bytes))
    return "sha256:" + h.sha.hexdigest(), h.size


def small_layer(random_bytes: int = 16 * 1024) -> tuple[bytes, str]:
    buf = io.BytesIO()
    digest, _ = write_layer(
        buf, {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": dpkg_status(STANZAS)}, random_bytes
    )
    return buf.getvalue(), digest


def config_blob(note: str) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers"},
            "config": {"Labels": {"n": note}},
        }
    ).encode()


def manifest_of(config: bytes, layers: Sequence[tuple[str, int]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_GZIP, "digest": d, "size": n} for d, n in layers],
        }
    ).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# The database, from the bench's side -------------------------------------------------------------


def open_db(server_dir: Path) -> Database:
    settings = load_settings(None, {"DATA_DIR": server_dir}, environ={})
    return Database(settings.db_uri.replace("+aiosqlite", ""))


def _indexed(db: Db, digests: Sequence[str]) -> int:
    """How many of `digests` have an index (any status but queued)."""
    done = 0
    for first in range(0, len(digests), 500):
        chunk = digests[first : first + 500]
        done += int(
            db.execute(
                select(func.count())
                .select_from(SecscanIndex)
                .where(SecscanIndex.digest.in_(chunk), SecscanIndex.status != store.QUEUED)
            ).scalar_one()
        )
    return done


def wait_indexed(db: Database, digests: Sequence[str], timeout: float = 3600) -> float:
    """Seconds until every one of `digests` is indexed."""
    t = time.perf_counter()
    while db.run_read(_indexed, digests) < len(digests):
        if time.perf_counter() - t > timeout:
            raise RuntimeError(f"not indexed after {timeout:.0f} s")
        time.sleep(POLL_S)
    return time.perf_counter() - t


# 1. Indexing a big image -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Indexing:
    size_mib: int
    push_s: float
    index_s: float
    status: str
    packages: int
    push_peak: int
    after_push: int
    index_peak: int


def _curl_put(s: Session, repo: str, path: Path, digest: str) -> None:
    location = s.start_upload(repo)
    url = f"{location}{'&' if '?' in location else '?'}digest={digest}"
    out = subprocess.run(
        [
            *("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", *s.curl_auth(repo)),
            *("-H", "Content-Type: application/octet-stream", "-T", str(path), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "201", out


def index_big_image(server: Server, db: Database, work: Path, layers: int, layer_mib: int) -> Indexing:
    s = Session(server)
    repo = s.repo(f"big-{layers * layer_mib}")
    files: list[tuple[Path, str, int]] = []
    for i in range(layers):
        content = (
            {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": dpkg_status(), **dist_infos()}
            if i == 0
            else {}
        )
        path = work / f"layer-{layer_mib}-{i}.tar.gz"
        with path.open("wb") as f:
            digest, size = write_layer(f, content, layer_mib * MiB)
        files.append((path, digest, size))
    config = config_blob(repo)
    body = manifest_of(config, [(d, n) for _, d, n in files])
    s.repo_auth(repo)
    server.reset_window()
    t = time.perf_counter()
    for path, digest, _ in files:
        _curl_put(s, repo, path, digest)
    s.push_bytes(repo, config)
    r = s.http.put(
        f"/v2/{repo}/manifests/latest",
        content=body,
        headers={**s.repo_auth(repo), "Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    pushed = time.perf_counter() - t
    push_peak = server.window_peak
    server.reset_window()
    after_push = server.window_peak
    digest = _digest(body)
    index_s = wait_indexed(db, [digest])
    index_peak = server.window_peak
    for path, _, _ in files:
        path.unlink()
    found = db.run_read(store.get_index, digest)
    packages = len(db.run_read(store.packages_of, digest))
    return Indexing(
        layers * layer_mib,
        pushed,
        index_s,
        found.status if found else "?",
        packages,
        push_peak,
        after_push,
        index_peak,
    )


# 2. Re-matching after a data update -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rematch:
    step: str
    seconds: float
    imported: int
    packages: int
    matches: int


def sample_packages() -> list[PackageRow]:
    """The packages the indexer finds in a layer with the first STANZAS packages of the status."""
    data, digest = small_layer(0)
    indexer = Indexer()
    indexer.add_layer(digest, io.BytesIO(gzip.decompress(data)))
    return package_rows(indexer.result())


def _fill_indexes(db: Db, count: int, packages: Sequence[PackageRow]) -> None:
    """`count` manifests in admin/rematch, each indexed with `packages`, as bulk INSERTs."""
    repo = repositories.create(db, "admin", "rematch", visibility="private", actor=BY)
    now = int(time.time() * 1000)
    prefix = uuid.uuid4().hex[:16]
    values = [dataclasses.asdict(p) for p in packages]
    distribution = json.dumps(
        {"id": "debian", "version_id": "12", "version_codename": "bookworm", "pretty_name": ""}
    )
    for first in range(0, count, BATCH):
        digests = [f"sha256:{prefix}{i:048x}" for i in range(first, min(first + BATCH, count))]
        db.execute(
            insert(Manifest),
            [
                {"repository_id": repo.id, "digest": d, "media_type": OCI_MANIFEST, "content": b"{}"}
                | {"size": 2, "created_ms": now}
                for d in digests
            ],
        )
        db.execute(
            insert(SecscanIndex),
            [
                {"digest": d, "status": store.SCANNED, "indexer_version": INDEXER_VERSION}
                | {"distribution_json": distribution, "created_ms": now, "indexed_ms": now, "attempts": 0}
                for d in digests
            ],
        )
        db.execute(insert(SecscanPackage), [{"manifest_digest": d, **v} for d in digests for v in values])


def _osv_records(directory: Path, names: Sequence[str], modified: str, fixed: str) -> None:
    directory.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        record = {
            "id": f"BENCH-2026-{i:04d}",
            "modified": modified,
            "summary": f"bench advisory for {name}",
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                }
            ],
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        }
        (directory / f"BENCH-2026-{i:04d}.json").write_text(json.dumps(record))


def rematch(db: Database, work: Path, manifests: int) -> tuple[float, int, list[Rematch]]:
    packages = sample_packages()
    t = time.perf_counter()
    db.run_write(_fill_indexes, manifests, packages)
    filled = time.perf_counter() - t
    names = sorted({p.match_name for p in packages if p.ecosystem == "Debian:12"})[:TOUCHED]
    out = []
    for step, modified, fixed in (
        ("new records", "2026-12-01T00:00:00Z", "99:0"),
        ("the same records modified", "2026-12-02T00:00:00Z", "98:0"),
    ):
        directory = work / f"osv-{modified[:10]}"
        _osv_records(directory, names, modified, fixed)
        t = time.perf_counter()
        result = secscan_update.update(db, directory)
        out.append(
            Rematch(step, time.perf_counter() - t, result.imported, result.packages_rematched, result.matches)
        )
    return filled, len(packages), out


# 3. Pushes with scanning on and off --------------------------------------------------------------


Image = tuple[bytes, bytes, bytes]  # config, layer, manifest


def small_images(count: int, note: str) -> list[Image]:
    images = []
    for j in range(count):
        config = config_blob(f"{note}-{j}")
        layer, digest = small_layer()
        images.append((config, layer, manifest_of(config, [(digest, len(layer))])))
    return images


def _push_blob(c: httpx.Client, headers: dict[str, str], repo: str, data: bytes) -> None:
    r = c.post(f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    r = c.put(
        f"{location}{'&' if '?' in location else '?'}digest={_digest(data)}", content=data, headers=headers
    )
    assert r.status_code == 201, r.text


def push_images(server: Server, repo: str, images: list[Image]) -> float:
    """Pushes per second of `images` from CLIENTS clients (a token each, fetched before the clock)."""
    s = Session(server)
    headers = [s.bearer(f"repository:{repo}:pull,push") for _ in range(CLIENTS)]

    def work(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            for j in range(i, len(images), CLIENTS):
                config, layer, body = images[j]
                _push_blob(c, headers[i], repo, config)
                _push_blob(c, headers[i], repo, layer)
                r = c.put(
                    f"/v2/{repo}/manifests/t{j}",
                    content=body,
                    headers={**headers[i], "Content-Type": OCI_MANIFEST},
                )
                assert r.status_code == 201, r.text

    t = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(work, range(CLIENTS)))
    return len(images) / (time.perf_counter() - t)


@dataclass
class PushFigures:
    """One variant's figures, run by run."""

    rates: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)
    """The server's CPU seconds a push (its indexing included, when it indexes)."""
    drain: list[float] = dataclasses.field(default_factory=list)


VARIANTS: Final = {
    "on": "scanning on (indexing in the server)",
    "queued": "scanning on, `--no-workers` (queued, not indexed)",
    "off": "scanning off",
}


def pushes(servers: dict[str, Server], db_on: Database, runs: int, count: int) -> dict[str, PushFigures]:
    """Each run pushes to every server in turn, the order reversed every other run. After a run on
    the indexing server, waits until it has indexed what was pushed, and counts that CPU too."""
    figures = {name: PushFigures() for name in servers}
    for run in range(runs):
        names = list(servers) if run % 2 == 0 else list(reversed(servers))
        for name in names:
            server, into = servers[name], figures[name]
            images = small_images(count, f"{name}-{run}")
            before = server.cpu_seconds()
            into.rates.append(push_images(server, f"admin/push-{run}", images))
            if name == "on":
                into.drain.append(wait_indexed(db_on, [_digest(m) for _, _, m in images]))
            into.cpu.append((server.cpu_seconds() - before) / count)
        done = ", ".join(f"{name} {f.rates[-1]:.1f}/s" for name, f in figures.items())
        print(f"  run {run + 1}: {done}", flush=True)
    return figures


# Output ------------------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / MiB:.0f} MiB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def render(
    header: str,
    idle: int,
    indexing: list[Indexing],
    filled: tuple[float, int, list[Rematch]],
    manifests: int,
    push: dict[str, PushFigures],
    count: int,
) -> str:
    lines = [header, "", f"**Indexing** (idle RSS of the server: {_mib(idle)})", ""]
    lines += [
        "| image (10 gzip layers) | push | manifest PUT to `scanned` | packages "
        "| peak RSS pushing | RSS when pushed | peak RSS indexing |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for x in indexing:
        lines.append(
            f"| {x.size_mib:,} MiB | {x.push_s:.1f} s "
            f"| {x.index_s:.1f} s ({x.size_mib / x.index_s:.0f} MiB/s, {x.status}) | {x.packages} "
            f"| {_mib(x.push_peak)} | {_mib(x.after_push)} | {_mib(x.index_peak)} |"
        )
    fill_s, per, steps = filled
    lines += [
        "",
        f"**Re-matching** {manifests:,} indexed manifests of {per} packages each "
        f"(filled by bulk INSERTs in {fill_s:.0f} s), {TOUCHED} OSV records naming packages in all of them",
        "",
        "| import | records written | packages re-matched | matches after | time | per manifest |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for step in steps:
        lines.append(
            f"| {step.step} | {step.imported} | {step.packages:,} | {step.matches:,} | {step.seconds:.1f} s "
            f"| {step.seconds / manifests * 1000:.2f} ms |"
        )
    off = push["off"].rates
    runs = len(off)
    lines += [
        "",
        f"**Pushes** of {count} small images from {CLIENTS} clients, {runs} interleaved runs (median, range)",
        "",
        "| server | pushes/s | ratio to scanning off | server CPU a push | backlog indexed after the run |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in VARIANTS.items():
        f = push[name]
        ratios = [a / b for a, b in zip(f.rates, off, strict=True)]
        drain = _spread(f.drain, lambda v: f"{v:.1f} s") if f.drain else ""
        lines.append(
            f"| {label} | {_spread(f.rates, lambda v: f'{v:.1f}')} | {_spread(ratios, lambda v: f'{v:.2f}')} "
            f"| {_spread(f.cpu, _ms)} | {drain} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.secscan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--quick", action="store_true", help="a 100 MiB image only, 1,000 manifests, 60 pushes a run"
    )
    ap.add_argument(
        "--runs", type=int, default=None, help="interleaved push runs (default 5; 3 with --quick)"
    )
    ap.add_argument(
        "--manifests", type=int, default=None, help="indexed manifests to re-match (default 10,000)"
    )
    ap.add_argument("--pushes", type=int, default=None, help="pushes per run and server (default 200)")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    manifests = args.manifests or (1_000 if args.quick else 10_000)
    count = args.pushes or (60 if args.quick else 200)
    sizes = (10,) if args.quick else (10, 100)  # MiB a layer
    root = Path(tempfile.mkdtemp(prefix="wharf-secscan-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    on = start_wharf(root, None, "wharf-scan")
    queued = start_wharf(root, None, "wharf-queued", extra_args=["--no-workers"])
    off = start_wharf(root, None, "wharf-noscan", {"FEATURE_SECURITY_SCANNER": "false"})
    db = open_db(root / on.name)
    try:
        time.sleep(2)
        idle = on.rss()
        on.watch_memory(POLL_S)
        print("indexing...", flush=True)
        indexing = [index_big_image(on, db, root, 10, mib) for mib in sizes]
        print("re-matching...", flush=True)
        filled = rematch(db, root, manifests)
        print("pushing...", flush=True)
        push = pushes({"on": on, "queued": queued, "off": off}, db, runs, count)
    finally:
        db.dispose()
        for server in (on, queued, off):
            server.stop()
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True)
    load_after = os.getloadavg()
    header = (
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} at the start "
        f"and {load_after[0]:.1f} at the end; "
        f"the run took {time.perf_counter() - started:.0f} s{' (--quick)' if args.quick else ''}."
    )
    table = render(header, idle, indexing, filled, manifests, push, count)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()

"""Issue 6: Wharf as a cluster, with real parts.

PostgreSQL, a SeaweedFS S3 server, two `wharf serve --no-workers` nodes (A and B) on their own ports
and data dirs, and two `wharf worker` processes, set up the way docs/deploy.md says: one settings
set for every process, a shared DATABASE_SECRET_KEY, node A's token signing key copied into B's
data dir. There is no load balancer: SERVER_HOSTNAME, the name clients use, is node A's address,
so a node's challenge sends clients to A for tokens and B must accept the tokens A signed.

- a chunked push whose PATCHes alternate between A and B, finished on B, pulled through A by
  skopeo and podman; blob GETs answer 307 to a presigned SeaweedFS URL;
- a third node, C, streams blobs itself (STORAGE_REDIRECT=false) and skopeo pulls through it;
- a push fires one webhook delivery although two workers compete for the job;
- the periodic GC job is queued once for both workers and runs once each time it comes due;
- B is SIGKILLed while a PATCH body is still streaming into it, and A finishes the upload.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import platform
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DB_BACKEND, fresh_database
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    SERVER_KIND,
    Clients,
    Server,
    Worker,
    admin_api,
    creds_args,
    require_tools,
    sha256_digest,
)
from tests.receivers import http_receiver
from tests.seaweed import SeaweedS3, unique_prefix
from tests.waiting import wait_until
from wharf.core import uploads
from wharf.integrations.notification_methods import verify
from wharf.oci.digest import Digest
from wharf.storage.base import blob_path
from wharf.storage.s3 import S3BlobStore

if SERVER_KIND != "wharf":
    pytest.skip("a cluster of wharf nodes is Wharf's own", allow_module_level=True)
if DB_BACKEND != "postgresql":
    pytest.skip(
        "the multi-node test needs PostgreSQL, which all nodes share: "
        "WHARF_TEST_DB=postgresql WHARF_TEST_PG=$(scripts/pg-start | tail -1)",
        allow_module_level=True,
    )
require_tools("skopeo", "podman", "runc")

pytestmark = pytest.mark.e2e

DATABASE_SECRET_KEY = "e2e-multinode-database-secret-key-shared-by-every-process"
MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCTETS = {"Content-Type": "application/octet-stream"}
CREDS = f"{ADMIN_USER}:{ADMIN_PASSWORD}"

T = TypeVar("T")


@dataclass
class Cluster:
    a: Server
    b: Server
    c: Server
    """Streams blobs through itself (STORAGE_REDIRECT=false); the others redirect."""
    workers: list[Worker]
    db_uri: str
    seaweed: SeaweedS3
    prefix: str
    """The cluster's key prefix in the SeaweedFS bucket."""
    clients: Clients

    @property
    def nodes(self) -> list[Server]:
        return [self.a, self.b, self.c]

    def sql(self, statement: LiteralString, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Look at (or, for a schedule, move) rows of the shared database."""
        with psycopg.connect(self.db_uri, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []

    def stored_size(self, digest: str) -> int | None:
        """The size of a blob's object in the bucket, looked at from outside Wharf."""
        store = S3BlobStore(self.seaweed.options(self.prefix))
        return asyncio.run(store.stat(blob_path(Digest.parse(digest))))

    def logs(self) -> str:
        parts = [f"--- {s.log_path} ---\n{s.log_tail()}" for s in self.nodes]
        parts += [f"--- {w.log_path} ---\n{w.log_tail()}" for w in self.workers]
        return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, seaweed: SeaweedS3) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("multinode")
    with fresh_database() as db_uri:
        assert db_uri is not None
        prefix = unique_prefix()
        settings = {
            "WHARF_DISTRIBUTED_STORAGE_CONFIG": json.dumps(seaweed.quay_config(prefix)),
            "WHARF_DISTRIBUTED_STORAGE_PREFERENCE": '["default"]',
            "WHARF_DATABASE_SECRET_KEY": DATABASE_SECRET_KEY,
            "WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.1"]',
            # GC comes due only when a test moves its schedule (test_periodic_gc_...), and then
            # collects what that test has aged past the grace period.
            "WHARF_GC_INTERVAL_S": "3600",
        }
        a, b, c = (
            Server(root / name, db_uri=db_uri, serve_args=["--no-workers"]) for name in ("a", "b", "c")
        )
        settings["WHARF_SERVER_HOSTNAME"] = a.host
        for node in (a, b):
            node.settings_env = dict(settings)
        c.settings_env = {**settings, "WHARF_STORAGE_REDIRECT": "false"}
        workers = [
            # at debug: a GC run that removes nothing logs its "gc: done" line there, and the
            # GC test counts those lines
            Worker(
                root / f"worker-{i}",
                db_uri=db_uri,
                settings_env=dict(settings),
                name=f"worker-{i}",
                log_level="debug",
            )
            for i in (1, 2)
        ]
        clients = Clients(root / "clients")
        cl = Cluster(a, b, c, workers, db_uri, seaweed, prefix, clients)
        try:
            for node in cl.nodes:
                node.workdir.mkdir(parents=True)
                clients.allow(node.host)
            a.start()  # migrates the database, creates `admin` and the signing key
            key = Path("keys") / "registry-signing.pem"
            for node in (b, c):
                (node.data_dir / "keys").mkdir(parents=True)
                shutil.copy2(a.data_dir / key, node.data_dir / key)
            # Once A has migrated, the others start (and later stop) side by side: one after the
            # other, each waiting for its own, they cost the module seconds a process.
            _each(lambda p: p.start(), [b, c, *workers])
            yield cl
        finally:
            _each(lambda p: p.stop(), [*workers, *cl.nodes])
            print(cl.logs())  # shown by pytest only when a test failed


def _each(action: Callable[[Server | Worker], None], processes: list[Server | Worker]) -> None:
    """`action` on every process at once, in threads; the first failure is raised."""
    with ThreadPoolExecutor(len(processes)) as pool:
        for done in [pool.submit(action, p) for p in processes]:
            done.result()


@pytest.fixture(autouse=True)
def _whole_cluster(request: pytest.FixtureRequest) -> None:
    """A test may leave a node dead (the SIGKILL test does): it starts again before the next test
    that uses the cluster, and not at all when none follows."""
    if "cluster" in request.fixturenames:
        cl: Cluster = request.getfixturevalue("cluster")
        for node in cl.nodes:
            if node.proc is None or node.proc.poll() is not None:
                node.start()


# --- images built by hand ---------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    layer: bytes
    config: bytes
    manifest: bytes

    @property
    def layer_digest(self) -> str:
        return sha256_digest(self.layer)

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def make_image(file_size: int) -> Image:
    """One gzipped layer holding one random file (incompressible: the layer is that large)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo("data")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        entry = tarfile.TarInfo("data/random.bin")
        entry.size, entry.mode = file_size, 0o644
        tar.addfile(entry, io.BytesIO(os.urandom(file_size)))
    layer = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(raw.getvalue())]},
            "history": [{"created_by": "wharf e2e multinode"}],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256_digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return Image(layer, config, manifest)


# --- /v2 by hand ----------------------------------------------------------------------------------


def with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def push_blob(node: Server, repo: str, data: bytes, headers: dict[str, str]) -> None:
    """A monolithic upload: POST ?digest= with the bytes."""
    r = httpx.post(
        f"{node.url}/v2/{repo}/blobs/uploads/?digest={sha256_digest(data)}",
        content=data,
        headers={**headers, **OCTETS},
        timeout=60,
    )
    assert r.status_code == 201, f"monolithic upload to {node.host}: {r.status_code} {r.text}"


def put_manifest(node: Server, repo: str, tag: str, image: Image, headers: dict[str, str]) -> None:
    r = httpx.put(
        f"{node.url}/v2/{repo}/manifests/{tag}",
        content=image.manifest,
        headers={**headers, "Content-Type": OCI_MANIFEST},
        timeout=60,
    )
    assert r.status_code == 201, f"manifest PUT on {node.host}: {r.status_code} {r.text}"
    assert r.headers["Docker-Content-Digest"] == image.digest


def push_image(node: Server, repo: str, tag: str, image: Image, headers: dict[str, str]) -> None:
    push_blob(node, repo, image.layer, headers)
    push_blob(node, repo, image.config, headers)
    put_manifest(node, repo, tag, image, headers)


def blob_gets(node: Server) -> dict[str, float]:
    """How many blob GETs this node answered so far, by status (its /metrics)."""
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "wharf_http_requests_total"
                and labels.get("route") == "v2_blob"
                and labels.get("method") == "GET"
            ):
                counts[labels["status"]] = counts.get(labels["status"], 0) + sample.value
    return counts


def until(check: Callable[[], T | None], what: str, timeout_s: float = 60) -> T:
    result = wait_until(check, what, timeout_s, interval_s=0.25)
    assert result is not None
    return result


def oci_layout_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


# --- the tests --------------------------------------------------------------------------------------


def test_chunked_push_alternating_nodes_then_pull_through_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    repo = "admin/multinode"
    image = make_image(13 * MiB)
    layer = image.layer
    # 6 MiB (a part S3 can copy as it is), then parts under S3's 5 MiB minimum part
    bounds = [0, 6 * MiB, 8 * MiB + 3, len(layer)]
    assert bounds[-2] < bounds[-1], "the layer must be larger than the first chunks"
    # a token from A's realm, used on both nodes
    headers = a.auth_headers(f"repository:{repo}:pull,push")

    with httpx.Client(headers=headers, timeout=60) as http:
        r = http.post(f"{a.url}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        assert location.startswith("/"), f"Location should be a path that works on any node: {location}"
        for i, node in enumerate([a, b, a]):
            start, end = bounds[i], bounds[i + 1]
            r = http.patch(
                node.url + location,
                content=layer[start:end],
                headers={**OCTETS, "Content-Range": f"{start}-{end - 1}"},
            )
            assert r.status_code == 202, f"chunk {i} on {node.host}: {r.status_code} {r.text}"
            assert r.headers["Range"] == f"0-{end - 1}", f"chunk {i} on {node.host}"
            location = r.headers["Location"]

        # B knows what A committed: upload state lives in the database
        r = http.get(b.url + location)
        assert r.status_code == 204, r.text
        assert r.headers["Range"] == f"0-{len(layer) - 1}"
        r = http.put(with_digest(b.url + location, image.layer_digest), headers={"Content-Length": "0"})
        assert r.status_code == 201, f"finishing on B: {r.status_code} {r.text}"
        assert r.headers["Docker-Content-Digest"] == image.layer_digest

        push_blob(b, repo, image.config, headers)
        put_manifest(b, repo, "v1", image, headers)

        # A serves it: the manifest as pushed, the blob as a redirect to a presigned S3 URL
        r = http.get(f"{a.url}/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200 and r.content == image.manifest, r.text
        r = http.head(f"{a.url}/v2/{repo}/blobs/{image.layer_digest}")
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(layer)
        r = http.get(f"{a.url}/v2/{repo}/blobs/{image.layer_digest}")
        assert r.status_code == 307, f"a blob GET in redirect mode: {r.status_code} {r.text[:200]}"
        presigned = r.headers["Location"]
    assert presigned.startswith(cluster.seaweed.endpoint + "/"), f"not a SeaweedFS URL: {presigned}"
    query = parse_qs(urlsplit(presigned).query)
    assert "X-Amz-Signature" in query, f"not presigned: {presigned}"
    assert query.get("X-Amz-Expires") == ["300"], f"not short-lived (300 s): {presigned}"
    # the URL alone (no Wharf credentials) gets the bytes from the store
    r = httpx.get(presigned, timeout=60)
    assert r.status_code == 200, f"presigned URL: {r.status_code} {r.text[:300]}"
    assert sha256_digest(r.content) == image.layer_digest, "the store holds other bytes than were pushed"

    # skopeo pulls through A, following the redirects to SeaweedFS
    before = blob_gets(a)
    layout = cluster.clients.root / "pulled-v1"
    cluster.clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(CREDS, "--src-creds"),
        "--preserve-digests",
        f"docker://{a.host}/{repo}:v1",
        f"oci:{layout}:v1",
    )
    after = blob_gets(a)
    assert after.get("307", 0) - before.get("307", 0) >= 2, f"config and layer redirects: {before} -> {after}"
    assert after.get("200", 0) == before.get("200", 0), f"A streamed a blob in redirect mode: {after}"
    assert cluster.clients.skopeo_digest(f"oci:{layout}:v1") == image.digest
    assert oci_layout_blob(layout, image.layer_digest) == layer
    assert oci_layout_blob(layout, image.config_digest) == image.config

    # and podman pulls it once more, unpacking the layer into its store
    ref = f"{a.host}/{repo}:v1"
    cluster.clients.run("podman", "pull", "--tls-verify=false", *creds_args(CREDS), ref)
    digest = cluster.clients.run("podman", "image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()
    assert digest == image.digest, f"podman pulled {digest}, pushed {image.digest}"
    assert blob_gets(a).get("200", 0) == before.get("200", 0), "podman's blob GETs were not redirected"


def test_streaming_node_serves_blobs_itself(cluster: Cluster) -> None:
    a, c = cluster.a, cluster.c
    repo = "admin/multinode-streamed"
    image = make_image(2 * MiB)
    headers = a.auth_headers(f"repository:{repo}:pull,push")
    push_image(a, repo, "v1", image, headers)

    r = httpx.get(f"{c.url}/v2/{repo}/blobs/{image.layer_digest}", headers=headers, timeout=60)
    assert r.status_code == 200, f"C (STORAGE_REDIRECT=false) should stream: {r.status_code} {r.headers}"
    assert r.content == image.layer
    assert r.headers["Docker-Content-Digest"] == image.layer_digest
    r = httpx.get(f"{a.url}/v2/{repo}/blobs/{image.layer_digest}", headers=headers, timeout=60)
    assert r.status_code == 307, "A still redirects: the mode is each node's own setting"

    # skopeo pulls through C (with a token from the realm on A): bytes come from C
    before = blob_gets(c)
    layout = cluster.clients.root / "pulled-streamed"
    cluster.clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(CREDS, "--src-creds"),
        "--preserve-digests",
        f"docker://{c.host}/{repo}:v1",
        f"oci:{layout}:v1",
    )
    after = blob_gets(c)
    assert after.get("200", 0) - before.get("200", 0) >= 2, f"config and layer from C: {before} -> {after}"
    assert after.get("307", 0) == 0, f"C redirected a blob GET: {after}"
    assert cluster.clients.skopeo_digest(f"oci:{layout}:v1") == image.digest
    assert oci_layout_blob(layout, image.layer_digest) == image.layer


def test_a_push_is_delivered_once_with_two_workers(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    repo = "admin/multinode-notify"
    image = make_image(64 * 1024)
    push_image(a, repo, "base", image, a.auth_headers(f"repository:{repo}:pull,push"))
    api = admin_api(b)  # the token in the cluster's one database, used through B
    tags = ["n1", "n2", "n3"]

    with api, http_receiver() as receiver:
        spec = {"event": "repo_push", "method": "webhook", "config": {"url": receiver.url + "/hook"}}
        r = api.post(f"/repository/{repo}/notification/", json={**spec, "eventConfig": {}})
        assert r.status_code == 201, r.text
        secret = r.json()["signing_secret"]

        # skopeo pushes new tags through A and B in turn
        for tag, node in zip(tags, [b, a, b], strict=True):
            cluster.clients.run(
                "skopeo",
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                *creds_args(CREDS, "--src-creds"),
                *creds_args(CREDS, "--dest-creds"),
                f"docker://{a.host}/{repo}:base",
                f"docker://{node.host}/{repo}:{tag}",
            )
        receiver.wait_for(len(tags), timeout_s=60)
        # Once no notification job is left in the queue, every delivery that will happen has.
        until(
            lambda: not cluster.sql("SELECT id FROM jobs WHERE queue = 'notification'"),
            "the notification queue to drain",
        )
        got = list(receiver.requests)

    assert all(w.running for w in cluster.workers), f"a worker died:\n{cluster.logs()}"
    bodies = [json.loads(req.body) for req in got]
    pushed = sorted(tag for body in bodies for tag in body["updated_tags"])
    assert pushed == tags, f"one delivery per push, each once: {bodies}"
    deliveries = [req.headers["x-wharf-delivery"] for req in got]
    assert len(set(deliveries)) == len(deliveries), f"a delivery was made twice: {deliveries}"
    for req in got:
        # signed with the secret node B sealed: the workers share DATABASE_SECRET_KEY
        assert verify(secret, req.headers["x-wharf-signature"], req.body), "bad signature"
        assert json.loads(req.body)["docker_url"] == f"{a.host}/{repo}"


def test_periodic_gc_is_queued_once_and_runs_once_per_schedule(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    repo = "admin/multinode-gc"
    headers = a.auth_headers(f"repository:{repo}:pull,push")
    garbage = os.urandom(256 * 1024)
    garbage_digest = sha256_digest(garbage)
    push_blob(b, repo, garbage, headers)  # referenced by no manifest: garbage once past the grace period
    assert httpx.head(f"{a.url}/v2/{repo}/blobs/{garbage_digest}", headers=headers).status_code == 200
    assert cluster.stored_size(garbage_digest) == len(garbage)

    def gc_job() -> tuple[int, int] | None:
        rows = cluster.sql("SELECT id, available_after_ms FROM jobs WHERE queue = 'gc'")
        assert len(rows) <= 1, f"the periodic GC job is queued more than once: {rows}"
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def gc_runs() -> list[dict[str, Any]]:
        return [
            {"worker": w.name, **r}
            for w in cluster.workers
            for r in w.records()
            if r.get("logger") == "wharf.gc" and str(r.get("message", "")).startswith("gc: done")
        ]

    # both workers schedule the periodic jobs every poll; GC is queued once, an hour out
    job_id, due = until(gc_job, "the periodic GC job to be queued")
    assert due > time.time() * 1000 + 30 * 60 * 1000, "GC_INTERVAL_S is an hour: the job is not due yet"
    assert gc_runs() == [], f"GC ran before it was due: {gc_runs()}"

    # the clock moves past the grace period for the upload (GC_GRACE_PERIOD_S is at least a minute)
    cluster.sql(
        "UPDATE repository_blobs SET created_ms = created_ms - %s"
        " WHERE repository_id = (SELECT id FROM repositories WHERE full_name = %s)",
        (2 * 3600 * 1000, repo),
    )
    for schedule in (1, 2):
        # the hour passes: the job comes due, and one of the two workers claims it
        cluster.sql("UPDATE jobs SET available_after_ms = 0 WHERE id = %s", (job_id,))

        def next_job(previous: int = job_id) -> tuple[int, int] | None:
            job = gc_job()
            return job if job is not None and job[0] != previous else None

        next_id, next_due = until(next_job, f"GC run {schedule} to finish and the next one to be queued")
        assert next_due > time.time() * 1000 + 30 * 60 * 1000, "the next run is queued an interval out"
        runs = gc_runs()
        assert len(runs) == schedule, f"{schedule} schedule(s) came due, GC ran {len(runs)} times: {runs}"
        job_id = next_id

    assert all(w.running for w in cluster.workers), f"a worker died:\n{cluster.logs()}"
    for node in (a, b):
        r = httpx.head(f"{node.url}/v2/{repo}/blobs/{garbage_digest}", headers=headers)
        assert r.status_code == 404, f"GC left the unreferenced blob on {node.host}: {r.status_code}"
    assert cluster.stored_size(garbage_digest) is None, "the worker's GC left the object in the bucket"
    # and no late second run of a schedule showed up meanwhile
    assert len(gc_runs()) == 2, f"two schedules, GC runs: {gc_runs()}"


def test_upload_finished_on_the_other_node_after_sigkill(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    repo = "admin/multinode-crash"
    data = os.urandom(11 * MiB + 5)
    committed = 3 * MiB
    digest = sha256_digest(data)
    headers = a.auth_headers(f"repository:{repo}:pull,push")
    http = httpx.Client(headers=headers, timeout=60)

    r = http.post(f"{a.url}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    r = http.patch(
        a.url + location, content=data[:committed], headers={**OCTETS, "Content-Range": f"0-{committed - 1}"}
    )
    assert r.status_code == 202, r.text

    # a PATCH into B whose body stops after 7 MiB (more than one S3 part) and goes on only when told
    half_sent, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def stalling_body() -> Iterator[bytes]:
        for offset in range(committed, committed + 7 * MiB, MiB):
            yield data[offset : offset + MiB]
        half_sent.set()
        release.wait(60)
        yield data[committed + 7 * MiB :]

    def send() -> None:
        try:
            outcome.append(
                httpx.patch(
                    b.url + location, content=stalling_body(), headers={**headers, **OCTETS}, timeout=60
                )
            )
        except httpx.HTTPError as e:
            outcome.append(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        assert half_sent.wait(60), "the PATCH body was not sent"
        until(
            lambda: cluster.sql("SELECT writer_token FROM uploads WHERE id = %s", (upload_id,))[0][0],
            "B to take the upload's writer lease",
        )
        # while B writes, no other node may: one writer per upload across the cluster
        r = http.patch(a.url + location, content=b"", headers=OCTETS)
        assert r.status_code == 429, f"a second writer on A during B's PATCH: {r.status_code} {r.text}"
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"

        b.kill()
        release.set()
        sender.join(60)
        assert outcome and isinstance(outcome[0], httpx.HTTPError), f"the killed PATCH answered: {outcome}"

        # A says what was committed: only the chunk before the killed PATCH
        r = http.get(a.url + location)
        assert r.status_code == 204, r.text
        assert r.headers["Range"] == f"0-{committed - 1}", "the killed PATCH committed bytes"

        def resume() -> httpx.Response:
            return http.patch(
                a.url + location,
                content=data[committed:],
                headers={**OCTETS, "Content-Range": f"{committed}-{len(data) - 1}"},
            )

        r = resume()
        if r.status_code == 429:
            # B died holding the upload's writer lease: no node writes until it lapses,
            # WRITER_LEASE_MS after B's last renewal. The lease is aged in the database as that
            # much time passing would, not waited for (the in-process test of a lapsed lease,
            # tests/integration/registry/test_uploads.py, takes one over by the clock).
            assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
            aged = cluster.sql(
                "UPDATE uploads SET writer_until_ms = writer_until_ms - %s"
                " WHERE id = %s AND writer_until_ms IS NOT NULL RETURNING id",
                (uploads.WRITER_LEASE_MS, upload_id),
            )
            assert aged, "the upload has no writer lease to age"
            r = resume()
        assert r.status_code == 202, f"resuming on A: {r.status_code} {r.text}"
        assert r.headers["Range"] == f"0-{len(data) - 1}"
        r = http.put(with_digest(a.url + r.headers["Location"], digest), headers={"Content-Length": "0"})
        assert r.status_code == 201, f"finishing on A: {r.status_code} {r.text}"
        assert r.headers["Docker-Content-Digest"] == digest

        r = http.get(f"{a.url}/v2/{repo}/blobs/{digest}", follow_redirects=True)
        assert r.status_code == 200
        assert len(r.content) == len(data) and sha256_digest(r.content) == digest, (
            "the blob holds other bytes than the client sent (the killed PATCH's leftovers?)"
        )
    finally:
        release.set()
        http.close()  # B stays dead: _whole_cluster starts it again if another test follows

"""Proxy-cache organizations: pulls through /v2 that fetch from a real upstream registry (CNCF
distribution on loopback), and the configuration's /api/v1 operations."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import threading
from collections.abc import AsyncGenerator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Clock
from tests.distribution import Distribution, require_distribution, sha256
from tests.integration.registry_client import RegistryClient
from tests.integration.world import accept_invitations, api_token
from tests.waiting import wait_until_async
from wharf.config import Settings
from wharf.core import blobs, repositories, secscan
from wharf.core import proxy_cache as proxy_cache_core
from wharf.core.secscan import INDEX_QUEUE
from wharf.db.engine import Db
from wharf.db.models import Job, ProxyCacheFetch
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.oci.names import RepositoryName
from wharf.services import proxy_cache, proxy_cache_blobs

ACCEPT = ", ".join([mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "FEATURE_PROXY_CACHE": True,
            "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
            "FEATURE_QUOTA_MANAGEMENT": True,
        }
    )


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Distribution]:
    require_distribution()
    server = Distribution(tmp_path / "upstream")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def locked_upstream(tmp_path: Path) -> Iterator[Distribution]:
    require_distribution()
    server = Distribution(tmp_path / "locked", user="mirror", password="upstream-secret")
    server.start()
    yield server
    server.stop()


async def _cache_org(reg: RegistryClient, name: str, upstream: str, **extra: Any) -> dict[str, str]:
    admin = await api_token(reg, "admin")
    r = await reg.http.post("/api/v1/organization/", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.text
    body = {"upstream_registry": upstream, "insecure": True, **extra}
    r = await reg.http.post(f"/api/v1/organization/{name}/proxycache", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return admin


async def _pull(reg: RegistryClient, repo: str, reference: str, **kw: Any) -> httpx.Response:
    headers = {**await reg.headers(repo, "pull", **kw), "Accept": ACCEPT}
    return await reg.http.get(f"/v2/{repo}/manifests/{reference}", headers=headers)


async def _blob(reg: RegistryClient, repo: str, digest: str) -> httpx.Response:
    return await reg.http.get(f"/v2/{repo}/blobs/{digest}", headers=await reg.headers(repo, "pull"))


async def test_a_first_pull_fetches_the_image_and_later_pulls_are_served_from_the_cache(
    reg: RegistryClient, upstream: Distribution
) -> None:
    digest, manifest, contents = upstream.push_image("library/alpine", "3.20")
    await _cache_org(reg, "cacheorg", upstream.host)

    r = await _pull(reg, "cacheorg/library/alpine", "3.20")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Type"] == mt.OCI_MANIFEST
    assert json.loads(r.content) == manifest
    repo = await reg.wharf.rt.db.read(repositories.get, "cacheorg", "library/alpine")
    assert repo is not None and repo.visibility == "private"  # created by its first pull

    descriptors = [manifest["config"], *manifest["layers"]]
    for descriptor, content in zip(descriptors, contents, strict=True):
        r = await _blob(reg, "cacheorg/library/alpine", descriptor["digest"])
        assert r.status_code == 200, r.text
        assert r.content == content
        stored = await reg.wharf.rt.db.read(blobs.get_linked, repo.id, descriptor["digest"])
        assert stored is not None and stored.size == len(content)
    # all its blobs are in Wharf now: indexed for security scanning like a pushed image
    assert await _index_queued_or_done(reg, digest)

    # With the upstream gone, everything is served from the cache (still fresh).
    upstream.stop()
    r = await _pull(reg, "cacheorg/library/alpine", "3.20")
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    r = await _pull(reg, "cacheorg/library/alpine", digest)
    assert r.status_code == 200
    for descriptor, content in zip(descriptors, contents, strict=True):
        r = await _blob(reg, "cacheorg/library/alpine", descriptor["digest"])
        assert r.status_code == 200 and r.content == content


async def _index_queued_or_done(reg: RegistryClient, digest: str) -> bool:
    def read(db: Db) -> bool:
        queued = db.execute(select(Job.id).where(Job.dedupe_key == f"{INDEX_QUEUE}:{digest}")).first()
        return queued is not None or secscan.get_index(db, digest) is not None

    return await reg.wharf.rt.db.read(read)


async def test_a_multi_arch_image_is_pulled_through_with_its_images(
    reg: RegistryClient, upstream: Distribution
) -> None:
    index_digest, children = upstream.push_index("tools/busybox", "latest")
    await _cache_org(reg, "multi", upstream.host)

    r = await _pull(reg, "multi/tools/busybox", "latest")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == index_digest
    assert r.headers["Content-Type"] == mt.OCI_INDEX
    upstream.stop()  # the index's images were stored with it
    for child in children:
        r = await _pull(reg, "multi/tools/busybox", child)
        assert r.status_code == 200
        assert r.headers["Docker-Content-Digest"] == child


async def test_a_stale_tag_is_refreshed_when_the_upstream_moved_it_and_served_stale_when_it_is_down(
    reg: RegistryClient, upstream: Distribution, clock: Clock
) -> None:
    first, _, _ = upstream.push_image("app", "v1")
    await _cache_org(reg, "stale", upstream.host, expiration_s=3600)
    r = await _pull(reg, "stale/app", "v1")
    assert r.headers["Docker-Content-Digest"] == first

    moved, _, _ = upstream.push_image("app", "v1")
    r = await _pull(reg, "stale/app", "v1")
    assert r.headers["Docker-Content-Digest"] == first  # fresh: the upstream is not asked
    clock.advance(3601)
    r = await _pull(reg, "stale/app", "v1")
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == moved  # stale: the upstream's new image

    clock.advance(3601)
    upstream.stop()
    r = await _pull(reg, "stale/app", "v1")
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == moved  # stale, served: the upstream is down

    r = await _pull(reg, "stale/app", "never-pulled")
    assert r.status_code == 502
    assert r.json()["errors"][0]["code"] == "UNAVAILABLE"


async def test_a_tag_the_upstream_does_not_have_is_manifest_unknown(
    reg: RegistryClient, upstream: Distribution
) -> None:
    upstream.push_image("app", "v1")
    await _cache_org(reg, "missing", upstream.host)
    r = await _pull(reg, "missing/app", "v2")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


async def test_a_corrupt_upstream_blob_is_refused_and_nothing_is_stored(
    reg: RegistryClient, upstream: Distribution
) -> None:
    _, manifest, _ = upstream.push_image("app", "v1")
    await _cache_org(reg, "corrupt", upstream.host)
    assert (await _pull(reg, "corrupt/app", "v1")).status_code == 200
    layer = manifest["layers"][0]["digest"]
    path = upstream.blob_file(layer)
    path.write_bytes(b"x" * path.stat().st_size)

    r = await _blob(reg, "corrupt/app", layer)
    assert r.status_code == 502
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    repo = await reg.wharf.rt.db.read(repositories.get, "corrupt", "app")
    assert repo is not None
    assert await reg.wharf.rt.db.read(blobs.get_linked, repo.id, layer) is None
    hex_ = layer.split(":")[1]
    assert await reg.wharf.rt.store.stat(f"sha256/{hex_[:2]}/{hex_}") is None


async def test_a_fetch_that_fails_after_its_client_left_stores_nothing_and_the_next_pull_refetches(
    reg: RegistryClient, upstream: Distribution
) -> None:
    # several of the upstream client's reads (up to 1 MiB each): the client gets some before it leaves
    _, manifest, contents = upstream.push_image("app", "v1", layer_size=3_000_000)
    await _cache_org(reg, "leftbroken", upstream.host)
    assert (await _pull(reg, "leftbroken/app", "v1")).status_code == 200
    layer = manifest["layers"][0]["digest"]
    path = upstream.blob_file(layer)
    path.write_bytes(b"x" * path.stat().st_size)  # found out only at the end of the bytes
    rt = reg.wharf.rt
    config = await proxy_cache.config_for(rt, "leftbroken")
    assert config is not None
    pulled = await proxy_cache_blobs.blob(
        rt, config, None, RepositoryName("leftbroken", "app"), Digest.parse(layer), head=False
    )
    assert isinstance(pulled.chunks, AsyncGenerator)
    assert await anext(pulled.chunks)
    await pulled.chunks.aclose()  # the client is gone; the fetch goes on and fails

    async def lease_gone() -> bool:
        return not await rt.db.read(lambda db: db.execute(select(ProxyCacheFetch.digest)).first())

    await wait_until_async(lease_gone, "the failed fetch to give its lease up")
    repo = await rt.db.read(repositories.get, "leftbroken", "app")
    assert repo is not None
    assert await rt.db.read(blobs.get_linked, repo.id, layer) is None
    assert [p async for p in rt.store.list("uploads") if "proxy-" in p] == []  # nothing half-written
    path.write_bytes(contents[1])  # the upstream is repaired: the next pull fetches again
    r = await _blob(reg, "leftbroken/app", layer)
    assert r.status_code == 200 and r.content == contents[1]


async def test_a_full_proxy_cache_evicts_its_least_recently_pulled_image_instead_of_refusing(
    reg: RegistryClient, upstream: Distribution, clock: Clock
) -> None:
    admin = await _cache_org(reg, "fullcache", upstream.host)
    r = await reg.http.post(
        "/api/v1/organization/fullcache/quota", json={"limit_bytes": 10_000}, headers=admin
    )
    assert r.status_code == 201, r.text
    [quota] = (await reg.http.get("/api/v1/organization/fullcache/quota", headers=admin)).json()
    r = await reg.http.post(
        f"/api/v1/organization/fullcache/quota/{quota['id']}/limit",
        json={"type": "Reject", "threshold_percent": 100},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    for name in ("a", "b", "c"):  # about 4 KiB each: two fit
        upstream.push_image(f"lib/{name}", "1")

    async def pull_whole(name: str) -> None:
        r = await _pull(reg, f"fullcache/lib/{name}", "1")
        assert r.status_code == 200, r.text
        manifest = json.loads(r.content)
        for descriptor in [manifest["config"], *manifest["layers"]]:
            assert (await _blob(reg, f"fullcache/lib/{name}", descriptor["digest"])).status_code == 200

    async def cached(name: str) -> bool:
        repo = await reg.wharf.rt.db.read(repositories.get, "fullcache", f"lib/{name}")
        assert repo is not None
        return await reg.wharf.rt.db.read(proxy_cache_core.cached_tag, repo.id, "1") is not None

    await pull_whole("a")
    clock.advance(60)
    await pull_whole("b")
    clock.advance(60)
    await pull_whole("c")  # no room for it: "a" goes
    assert [await cached(n) for n in ("a", "b", "c")] == [False, True, True]
    clock.advance(60)
    await pull_whole("a")  # pulled again from the upstream: now "b" is the least recently pulled
    assert [await cached(n) for n in ("a", "b", "c")] == [True, False, True]


async def test_a_blob_no_cached_manifest_names_is_not_fetched(
    reg: RegistryClient, upstream: Distribution
) -> None:
    upstream.push_image("app", "v1")
    other = upstream.push_blob("app", b"not in any manifest")
    await _cache_org(reg, "named", upstream.host)
    assert (await _pull(reg, "named/app", "v1")).status_code == 200
    r = await _blob(reg, "named/app", other)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


async def test_pushes_into_a_proxy_cache_are_refused(reg: RegistryClient, upstream: Distribution) -> None:
    await _cache_org(reg, "nopush", upstream.host)
    r = await reg.http.post("/v2/nopush/app/blobs/uploads/", headers=await reg.headers("nopush/app"))
    assert r.status_code == 403
    error = r.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert "proxy cache" in error["message"]


async def test_credentials_log_in_to_the_upstream(reg: RegistryClient, locked_upstream: Distribution) -> None:
    digest, _, _ = locked_upstream.push_image("private/app", "v1")
    await _cache_org(
        reg,
        "locked",
        locked_upstream.host,
        upstream_registry_username="mirror",
        upstream_registry_password="upstream-secret",
    )
    r = await _pull(reg, "locked/private/app", "v1")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest

    # the process keeps the credentials it decrypted with the configuration's clients: a new
    # configuration is logged in with its own, at once
    admin = await api_token(reg, "admin")
    locked_upstream.push_image("private/app", "v2")
    for password, status in (("wrong", 502), ("upstream-secret", 200)):
        r = await reg.http.delete("/api/v1/organization/locked/proxycache", headers=admin)
        assert r.status_code == 201, r.text
        body = {
            "upstream_registry": locked_upstream.host,
            "insecure": True,
            "upstream_registry_username": "mirror",
            "upstream_registry_password": password,
        }
        r = await reg.http.post("/api/v1/organization/locked/proxycache", json=body, headers=admin)
        assert r.status_code == 201, r.text
        assert (await _pull(reg, "locked/private/app", "v2")).status_code == status


async def test_a_namespace_prefix_maps_names_under_it(reg: RegistryClient, upstream: Distribution) -> None:
    digest, _, _ = upstream.push_image("projectquay/quay", "3.9")
    await _cache_org(reg, "prefixed", f"{upstream.host}/projectquay")
    r = await _pull(reg, "prefixed/quay", "3.9")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest


async def test_members_pull_and_other_users_do_not(reg: RegistryClient, upstream: Distribution) -> None:
    digest, _, _ = upstream.push_image("app", "v1")
    admin = await _cache_org(reg, "members", upstream.host)
    for user in ("member", "stranger"):
        await reg.create_user(user, "member-password")
    r = await reg.http.put(
        "/api/v1/organization/members/team/pullers", json={"role": "member"}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await reg.http.put("/api/v1/organization/members/team/pullers/members/member", headers=admin)
    assert r.status_code == 200, r.text
    if r.json()["invited"]:  # FEATURE_REQUIRE_TEAM_INVITE (Quay's default): the user accepts
        await accept_invitations(reg, "member", await api_token(reg, "member"))

    r = await _pull(reg, "members/app", "v1", user="member", password="member-password")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    token = await reg.token("repository:members/app:pull", user="stranger", password="member-password")
    r = await reg.http.get("/v2/members/app/manifests/v1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


class _Redirector(BaseHTTPRequestHandler):
    """An upstream that answers every request with a redirect to the cloud metadata address."""

    def do_GET(self) -> None:
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(307)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_an_upstream_redirect_to_an_internal_address_is_refused(
    reg: RegistryClient, redirector: str
) -> None:
    await _cache_org(reg, "redirected", redirector)
    r = await _pull(reg, "redirected/app", "v1")
    assert r.status_code == 403
    error = r.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert "169.254.169.254" in error["message"]


async def test_an_internal_upstream_is_refused_unless_allowed(
    reg: RegistryClient, upstream: Distribution, settings: Settings
) -> None:
    upstream.push_image("app", "v1")
    await _cache_org(reg, "guarded", upstream.host)
    reg.wharf.rt.settings = settings.model_copy(update={"SSRF_ALLOWED_HOSTS": []})
    r = await _pull(reg, "guarded/app", "v1")
    assert r.status_code == 403
    assert "SSRF_ALLOWED_HOSTS" in r.json()["errors"][0]["message"]


class _SlowUpstream(BaseHTTPRequestHandler):
    """An upstream with one image whose layer is held back until the test releases it, counting
    the layer's GETs."""

    image: dict[str, Any] = {}
    release = threading.Event()
    layer_gets: list[str] = []

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_GET(self) -> None:
        image = type(self).image
        if self.path == "/v2/":
            self._send(200, b"{}", {})
        elif self.path == "/v2/app/manifests/v1":
            body = image["manifest"]
            self._send(200, body, {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": image["digest"]})
        elif self.path.startswith("/v2/app/blobs/") and self.path.rsplit("/", 1)[1] in image["blobs"]:
            digest = self.path.rsplit("/", 1)[1]
            if digest == image["layer"]:
                type(self).layer_gets.append(digest)
                type(self).release.wait(30)
            self._send(200, image["blobs"][digest], {})
        else:
            self._send(404, b"{}", {})

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_upstream() -> Iterator[tuple[str, type[_SlowUpstream]]]:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(300_000)
    digests = [sha256(config), sha256(layer)]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": digests[0], "size": len(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digests[1],
                    "size": len(layer),
                }
            ],
        }
    ).encode()

    class Handler(_SlowUpstream):
        image = {
            "manifest": manifest,
            "digest": sha256(manifest),
            "layer": digests[1],
            "blobs": {digests[0]: config, digests[1]: layer},
        }
        release = threading.Event()
        layer_gets: list[str] = []

    handler = Handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", handler
    handler.release.set()
    server.shutdown()
    server.server_close()


async def test_concurrent_pulls_of_one_missing_blob_fetch_it_once(
    reg: RegistryClient, slow_upstream: tuple[str, type[_SlowUpstream]]
) -> None:
    host, upstream = slow_upstream
    await _cache_org(reg, "coalesce", host)
    assert (await _pull(reg, "coalesce/app", "v1")).status_code == 200
    layer = upstream.image["layer"]
    await reg.headers("coalesce/app", "pull")  # one token for all, fetched before the race

    pulls = [asyncio.create_task(_blob(reg, "coalesce/app", layer)) for _ in range(5)]
    await wait_until_async(lambda: _true(bool(upstream.layer_gets)), "the first pull to reach the upstream")
    upstream.release.set()
    answers = await asyncio.gather(*pulls)

    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.content == upstream.image["blobs"][layer] for a in answers)
    assert upstream.layer_gets == [layer]


async def test_a_client_that_leaves_in_the_middle_of_a_blob_does_not_stop_its_caching(
    reg: RegistryClient, slow_upstream: tuple[str, type[_SlowUpstream]]
) -> None:
    host, upstream = slow_upstream
    await _cache_org(reg, "leaver", host)
    assert (await _pull(reg, "leaver/app", "v1")).status_code == 200
    layer = upstream.image["layer"]
    rt = reg.wharf.rt
    config = await proxy_cache.config_for(rt, "leaver")
    assert config is not None
    upstream.release.set()
    # At the service, where the server's cancellation of the response reaches it.
    pulled = await proxy_cache_blobs.blob(
        rt, config, None, RepositoryName("leaver", "app"), Digest.parse(layer), head=False
    )
    assert isinstance(pulled.chunks, AsyncGenerator)
    assert await anext(pulled.chunks)
    await pulled.chunks.aclose()  # the client is gone

    repo = await rt.db.read(repositories.get, "leaver", "app")
    assert repo is not None

    async def cached() -> bool:
        return await rt.db.read(blobs.get_linked, repo.id, layer) is not None

    await wait_until_async(cached, "the blob to be finished into storage")
    assert not await rt.db.read(lambda db: db.execute(select(ProxyCacheFetch.digest)).first())  # lease gone
    r = await _blob(reg, "leaver/app", layer)
    assert r.status_code == 200 and r.content == upstream.image["blobs"][layer]
    assert upstream.layer_gets == [layer]  # fetched once


async def _true(value: bool) -> bool:
    return value


class _Storage(BaseHTTPRequestHandler):
    """Blob storage on another host name: serves any path, recording the Authorization it got."""

    content = b""
    seen: list[str | None] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.content)))
        self.end_headers()
        self.wfile.write(self.content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Flaky(BaseHTTPRequestHandler):
    """A registry behind Basic auth that answers its first manifest GET 503 (Retry-After: 0) and
    sends blobs to storage elsewhere with a redirect."""

    image: dict[str, Any] = {}
    storage = ""
    manifest_gets: list[int] = []

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {**(headers or {}), "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_GET(self) -> None:
        cls = type(self)
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:pass").decode():
            self._reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="flaky"'})
        elif self.path == "/v2/app/manifests/v1":
            cls.manifest_gets.append(1)
            if len(cls.manifest_gets) == 1:
                self._reply(503, b"{}", {"Retry-After": "0"})
                return
            image = cls.image
            self._reply(200, image["manifest"], {"Content-Type": mt.OCI_MANIFEST})
        elif self.path.startswith("/v2/app/blobs/"):
            self._reply(
                307, headers={"Location": f"http://{cls.storage}/bucket/{self.path.rsplit('/', 1)[1]}"}
            )
        else:
            self._reply(404, b"{}")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


async def test_a_503_is_retried_and_credentials_do_not_follow_a_redirect_to_storage(
    reg: RegistryClient, settings: Settings
) -> None:
    layer = os.urandom(5000)
    config = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()

    class Storage(_Storage):
        content = layer
        seen: list[str | None] = []

    storage, storage_port = _serve(Storage)

    class Flaky(_Flaky):
        image = {"manifest": manifest}
        manifest_gets: list[int] = []

    Flaky.storage = f"localhost:{storage_port}"  # another host name than the registry's
    registry, registry_port = _serve(Flaky)
    reg.wharf.rt.settings = settings.model_copy(update={"SSRF_ALLOWED_HOSTS": ["127.0.0.1", "localhost"]})
    try:
        await _cache_org(
            reg,
            "flaky",
            f"127.0.0.1:{registry_port}",
            upstream_registry_username="user",
            upstream_registry_password="pass",
        )
        r = await _pull(reg, "flaky/app", "v1")
        assert r.status_code == 200, r.text
        assert len(Flaky.manifest_gets) == 2  # the 503, then the manifest
        r = await _blob(reg, "flaky/app", sha256(layer))
        assert r.status_code == 200 and r.content == layer
        assert Storage.seen == [None]  # the storage host never saw the registry's credentials
    finally:
        for server in (registry, storage):
            server.shutdown()
            server.server_close()


async def test_tags_of_a_proxy_cache_change_only_by_pulls(
    reg: RegistryClient, upstream: Distribution
) -> None:
    digest, _, _ = upstream.push_image("app", "v1")
    admin = await _cache_org(reg, "followers", upstream.host)
    assert (await _pull(reg, "followers/app", "v1")).status_code == 200
    r = await reg.http.delete("/api/v1/repository/followers/app/tag/v1", headers=admin)
    assert r.status_code == 503, r.text
    assert "proxy-cache" in r.json()["detail"]
    r = await reg.http.delete(
        f"/v2/followers/app/manifests/{digest}", headers=await reg.headers("followers/app")
    )
    assert r.status_code == 403
    assert (await _pull(reg, "followers/app", "v1")).headers["Docker-Content-Digest"] == digest


class _Bearer(BaseHTTPRequestHandler):
    """A registry with a token service, serving its image as any repository and counting the
    tokens it hands out, the 401s it answers and the connections it is sent requests over."""

    protocol_version = "HTTP/1.1"  # connections stay open
    image: dict[str, Any] = {}
    tokens: list[str] = []
    challenged: list[str] = []
    connections: list[int] = []

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(self.client_address[1])

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {**(headers or {}), "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_GET(self) -> None:
        cls = type(self)
        host = self.headers["Host"]
        if self.path.startswith("/token"):
            if self.headers.get("Authorization", "").startswith("Bearer"):
                self._reply(401, b"{}")  # a token service takes a login, not a token
                return
            scope = re.search(r"scope=repository%3A([^%&]+)%3Apull", self.path)
            cls.tokens.append(self.path)
            token = f"token-{scope.group(1)}" if scope else "ping-token"
            self._reply(200, json.dumps({"token": token, "expires_in": 300}).encode())
            return
        repository = re.match(r"/v2/([^/]+)/(manifests|blobs)/(.+)$", self.path)
        if self.path == "/v2/" and self.headers.get("Authorization") == "Bearer ping-token":
            self._reply(200, b"{}")
        elif repository is None or self.headers.get("Authorization") != f"Bearer token-{repository[1]}":
            cls.challenged.append(self.path)
            challenge = f'Bearer realm="http://{host}/token",service="fake"'
            self._reply(401, b"{}", {"WWW-Authenticate": challenge})
        elif repository[2] == "manifests" and repository[3] == "v1":
            self._reply(200, cls.image["manifest"], {"Content-Type": mt.OCI_MANIFEST})
        elif repository[2] == "blobs" and repository[3] in cls.image["blobs"]:
            self._reply(200, cls.image["blobs"][repository[3]])
        else:
            self._reply(404, b"{}")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_a_token_serves_every_request_of_its_repository_until_it_expires(reg: RegistryClient) -> None:
    """...and the connection serves every request to the upstream; the token of a repository
    pulled for the first time is fetched without being challenged first."""
    layer, config = os.urandom(3000), b'{"os": "linux"}'
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()

    class Bearer(_Bearer):
        image = {"manifest": manifest, "blobs": {sha256(layer): layer, sha256(config): config}}
        tokens: list[str] = []
        challenged: list[str] = []
        connections: list[int] = []

    server, port = _serve(Bearer)
    try:
        admin = await _cache_org(reg, "tokens", f"127.0.0.1:{port}")
        body = {"upstream_registry": f"127.0.0.1:{port}", "insecure": True}
        r = await reg.http.post("/api/v1/organization/tokens/validateproxycache", json=body, headers=admin)
        assert r.status_code == 202 and r.json() == "Valid"
        validation = len(Bearer.connections)
        for repository in ("app", "other"):
            assert (await _pull(reg, f"tokens/{repository}", "v1")).status_code == 200
            for content in (config, layer):
                r = await _blob(reg, f"tokens/{repository}", sha256(content))
                assert r.status_code == 200 and r.content == content
        # one for the validation, one per repository
        assert len(Bearer.tokens) == 3
        # the validation's /v2/ and the first manifest: the next repository's token comes first
        assert Bearer.challenged == ["/v2/", "/v2/app/manifests/v1"]
        assert len(Bearer.connections) == validation + 1  # the pulls' connection stays open
    finally:
        server.shutdown()
        server.server_close()

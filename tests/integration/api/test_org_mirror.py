"""Organization mirroring: Quay's /api/v1/organization/{org}/mirror operations, and discoveries
from a Harbor project (tests/harbor.py in front of a real registry) and from a Quay namespace (a
second, real `wharf serve`), whose repositories are then synced by the repository-mirror
machinery."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.distribution import Distribution, require_distribution, sha256
from tests.harbor import Harbor
from tests.http_proxy import HttpProxy
from tests.integration.world import PW, World
from tests.process.server import WharfServer
from tests.socks_proxy import SocksProxy
from wharf.config import Settings
from wharf.core import accounts, manifests, mirrors, org_mirror_repos, org_mirrors, repositories
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.integrations import org_registries
from wharf.jobs import runner
from wharf.oci import mediatypes as mt
from wharf.services import mirroring, org_mirroring

URL = "/api/v1/organization/acme/mirror"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"FEATURE_ORG_MIRROR": True, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]})


@pytest.fixture
def harbor(tmp_path: Path) -> Iterator[Harbor]:
    require_distribution()
    registry = Distribution(tmp_path / "upstream")
    registry.start()
    server = Harbor(registry, "proj", "harbor-user", "harbor-secret")
    server.start()
    yield server
    server.stop()
    registry.stop()


async def _robot(world: World) -> str:
    r = await world.reg.http.put(
        "/api/v1/organization/acme/robots/orgmirror", json={}, headers=world.api["owner"]
    )
    assert r.status_code in (200, 201), r.text
    return "acme+orgmirror"


def _body(harbor: Harbor | _EndlessHarbor, robot: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_registry_type": "harbor",
        "external_registry_url": harbor.url,
        "external_namespace": "proj",
        "robot_username": robot,
        "visibility": "private",
        "sync_interval": 3600,
        "sync_start_date": "2026-01-01T00:00:00Z",
        "external_registry_username": "harbor-user",
        "external_registry_password": "harbor-secret",
        "repository_filters": ["!test-*"],
        "skopeo_timeout": 60,
        **extra,
    }


def _tag_digest(repo_id: int, tag: str) -> Any:
    def read(db: Db) -> str | None:
        return db.execute(manifests.alive_tag_digest(repo_id, tag, now_ms())).scalar()

    return read


async def test_a_harbor_project_is_discovered_created_and_synced(world: World, harbor: Harbor) -> None:
    web, _, _ = harbor.registry.push_image("proj/web", "v1")
    harbor.registry.push_image("proj/api", "v1")
    harbor.registry.push_image("proj/test-tool", "v1")
    harbor.registry.push_image("proj/app", "v1")  # acme/app exists: not taken over
    harbor.registry.push_image("other/web", "v1")  # another project
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)

    r = await http.post(URL, json=_body(harbor, robot), headers=owner)
    assert r.status_code == 201, r.text
    r = await http.get(URL, headers=owner)
    config = r.json()
    assert config["sync_status"] == "NEVER_RUN"
    assert config["external_registry_username"] == "harbor-user"
    assert config["has_external_registry_password"] is True
    assert "harbor-secret" not in r.text
    assert config["robot_username"] == robot

    r = await http.post(f"{URL}/verify", headers=owner)
    assert r.json()["success"] is True, r.text

    r = await http.post(f"{URL}/sync-now", headers=owner)
    assert r.status_code == 204, r.text
    org = await rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    outcome = await org_mirroring.sync(rt, org.id)
    assert outcome is not None and outcome.status == org_mirrors.SYNC_SUCCESS, outcome
    assert (outcome.mirrored, outcome.skipped, outcome.failed) == (["api", "web"], ["test-tool"], ["app"])

    repo = await rt.db.read(repositories.get, "acme", "web")
    assert repo is not None and repo.state == repositories.ORG_MIRROR and repo.visibility == "private"
    mirror = await rt.db.read(mirrors.get, repo.id)
    assert mirror is not None and mirror.sync_status == mirrors.SYNC_NOW and mirror.robot_username == robot
    synced = await mirroring.sync(rt, repo.id)
    assert synced is not None and synced.status == mirrors.SYNC_SUCCESS, synced
    assert await rt.db.read(_tag_digest(repo.id, "v1")) == web
    app = await rt.db.read(repositories.get, "acme", "app")
    assert app is not None and app.state == repositories.NORMAL

    r = await http.get(f"{URL}/repositories", headers=owner)
    listing = r.json()
    assert listing["total"] == 4
    by_name = {item["name"]: item for item in listing["repositories"]}
    assert by_name["web"]["discovery_status"] == "CREATED" and by_name["web"]["sync_status"] == "SUCCESS"
    assert by_name["web"]["quay_repository"] == "acme/web"
    assert by_name["web"]["last_sync_date"] is not None  # its repository mirror's last success
    assert by_name["api"]["sync_status"] == "SYNC_NOW" and by_name["api"]["last_sync_date"] is None
    assert by_name["test-tool"]["sync_status"] == "SKIP" and by_name["test-tool"]["quay_repository"] is None
    assert by_name["app"]["sync_status"] == "FAIL" and "exists" in by_name["app"]["status_message"]
    r = await http.get(f"{URL}/repositories", params={"status": "skip"}, headers=owner)
    assert [i["name"] for i in r.json()["repositories"]] == ["test-tool"]
    r = await http.get(URL, headers=owner)
    assert r.json()["sync_status"] == "SYNC_SUCCESS"
    assert r.json()["repo_sync_status_counts"] == {"CREATED": 2, "SKIP": 1, "FAILED": 1}

    # a second discovery creates nothing new and asks the repositories to sync again
    again = await org_mirroring.sync(rt, org.id)
    assert again is not None and again.mirrored == ["api", "web"]

    # a repository deleted upstream is set aside as Quay does: kept with its tags, no more syncs
    harbor.deleted.add("proj/api")
    gone = await org_mirroring.sync(rt, org.id)
    assert gone is not None and (gone.mirrored, gone.vanished) == (["web"], ["api"])
    api = await rt.db.read(repositories.get, "acme", "api")
    assert api is not None and api.state == repositories.ORG_MIRROR
    api_mirror = await rt.db.read(mirrors.get, api.id)
    assert api_mirror is not None and not api_mirror.is_enabled
    r = await http.get(f"{URL}/repositories", params={"status": "skip"}, headers=owner)
    assert [(i["name"], i["status_message"], i["quay_repository"]) for i in r.json()["repositories"]] == [
        ("api", "Repository no longer in source registry", "acme/api"),
        ("test-tool", "left out by repository_filters", None),
    ]
    harbor.deleted.clear()  # back upstream: mirrored again
    back = await org_mirroring.sync(rt, org.id)
    assert back is not None and back.mirrored == ["api", "web"] and back.vanished == []
    api_mirror = await rt.db.read(mirrors.get, api.id)
    assert api_mirror is not None and api_mirror.is_enabled

    r = await http.get("/api/v1/organization/acme/logs", headers=owner)
    kinds = {e["kind"] for e in r.json()["logs"]}
    assert {"org_mirror_enabled", "org_mirror_sync_now_requested", "org_mirror_sync_success"} <= kinds
    assert "org_mirror_repo_created" in kinds

    # the credentials reach the repositories' mirrors when they change
    r = await http.put(URL, json={"external_registry_password": "rotated"}, headers=owner)
    assert r.status_code == 200, r.text
    mirror = await rt.db.read(mirrors.get, repo.id)
    assert mirror is not None and mirror.credentials(rt.secrets) == ("harbor-user", "rotated")

    r = await http.post(f"{URL}/sync-cancel", headers=owner)
    assert r.status_code == 204
    assert (await http.post(f"{URL}/sync-cancel", headers=owner)).status_code == 400

    r = await http.delete(URL, headers=owner)
    assert r.status_code == 204
    repo = await rt.db.read(repositories.get, "acme", "web")
    assert repo is not None and repo.state == repositories.NORMAL
    assert (await http.get(URL, headers=owner)).status_code == 404


async def test_a_new_configuration_takes_over_what_an_earlier_one_made(world: World, harbor: Harbor) -> None:
    harbor.registry.push_image("proj/web", "v1")
    harbor.registry.push_image("proj/app", "v1")  # acme/app is the owner's own: never taken
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    org = await rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    assert (await http.post(URL, json=_body(harbor, robot), headers=owner)).status_code == 201
    first = await org_mirroring.sync(rt, org.id)
    assert first is not None and (first.mirrored, first.failed) == (["web"], ["app"])
    assert (await http.delete(URL, headers=owner)).status_code == 204
    web = await rt.db.read(repositories.get, "acme", "web")
    assert web is not None and web.state == repositories.NORMAL

    # created again, with another timeout: web is the mirror's again, app still the owner's
    again = _body(harbor, robot, skopeo_timeout=90)
    assert (await http.post(URL, json=again, headers=owner)).status_code == 201
    outcome = await org_mirroring.sync(rt, org.id)
    assert outcome is not None and (outcome.mirrored, outcome.failed) == (["web"], ["app"]), outcome
    web = await rt.db.read(repositories.get, "acme", "web")
    assert web is not None and web.state == repositories.ORG_MIRROR
    mirror = await rt.db.read(mirrors.require, web.id)
    assert mirror.org_mirror and mirror.is_enabled and mirror.sync_status == mirrors.SYNC_NOW
    assert mirror.skopeo_timeout_interval == 90
    r = await http.get(f"{URL}/repositories", headers=owner)
    by_name = {item["name"]: item for item in r.json()["repositories"]}
    assert by_name["web"]["discovery_status"] == "CREATED"
    assert by_name["web"]["status_message"] == org_mirror_repos.TAKEN_OVER
    assert by_name["app"]["discovery_status"] == "FAILED"

    # another registry URL moves the repositories' mirrors there (and its scheme sets their TLS)
    with HttpProxy() as proxy:
        moved = {
            "external_registry_url": harbor.url.replace("127.0.0.1", "localhost"),
            "external_registry_config": {"verify_tls": True, "proxy": {"http_proxy": proxy.url}},
        }
        r = await http.put(URL, json=moved, headers=owner)
        assert r.status_code == 200, r.text
        mirror = await rt.db.read(mirrors.require, web.id)
        port = harbor.url.rsplit(":", 1)[1]
        assert mirror.external_reference == f"localhost:{port}/proj/web"
        assert not mirror.verify_tls and mirrors.proxies(mirror.external_registry_config) == (
            proxy.url,
            None,
            (),
        )
        # the discovery goes through the proxy too
        assert (await http.post(f"{URL}/verify", headers=owner)).json()["success"] is True
        assert proxy.count(f"GET localhost:{port}") == 1


async def test_wrong_credentials_fail_the_discovery_and_the_check(world: World, harbor: Harbor) -> None:
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    r = await http.post(URL, json=_body(harbor, robot, external_registry_password="wrong"), headers=owner)
    assert r.status_code == 201, r.text
    r = await http.post(f"{URL}/verify", headers=owner)
    assert r.json()["success"] is False and "credentials" in r.json()["message"]
    org = await rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    outcome = await org_mirroring.sync(rt, org.id)
    assert outcome is not None and outcome.status == org_mirrors.SYNC_FAILED
    r = await http.get(URL, headers=owner)
    assert r.json()["sync_status"] == "SYNC_FAILED" and "credentials" in r.json()["last_error"]


async def test_what_a_configuration_must_be(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    robot = await _robot(world)
    good = {
        "external_registry_type": "quay",
        "external_registry_url": "https://quay.example.com",
        "external_namespace": "projectquay",
        "robot_username": robot,
        "visibility": "public",
        "sync_interval": 3600,
        "sync_start_date": "2026-01-01T00:00:00Z",
    }
    for bad in (
        {"robot_username": "someone+else"},
        {"sync_interval": 10},
        {"external_registry_url": "quay.example.com/path"},
        {"external_registry_url": "http://10.1.2.3"},  # an internal address: SSRF guard
        {"external_namespace": "Bad Name"},
        {"skopeo_timeout": 5},
        {"external_registry_type": "dockerhub"},
    ):
        r = await http.post(URL, json={**good, **bad}, headers=owner)
        assert r.status_code == 400, (bad, r.text)
    r = await http.post(URL, json={k: v for k, v in good.items() if k != "visibility"}, headers=owner)
    assert r.status_code == 400
    # only an organization's admins
    r = await http.post(URL, json=good, headers=world.api["maker"])
    assert r.status_code == 403
    r = await http.post(URL, json=good, headers=owner)
    assert r.status_code == 201, r.text
    assert (await http.post(URL, json=good, headers=owner)).status_code == 400  # exists already
    r = await http.put(URL, json={"external_registry_type": "harbor"}, headers=owner)
    assert r.status_code == 400


async def test_the_feature_is_off_by_default(world: World, settings: Settings) -> None:
    rt = world.reg.wharf.rt
    assert runner.periodic(rt)[org_mirroring.SCHEDULE_QUEUE] == settings.ORG_MIRROR_INTERVAL
    rt.settings = settings.model_copy(update={"FEATURE_ORG_MIRROR": False})
    assert org_mirroring.SCHEDULE_QUEUE not in runner.periodic(rt)
    r = await world.reg.http.get(URL, headers=world.api["owner"])
    assert r.status_code == 404
    assert Settings.model_fields["FEATURE_ORG_MIRROR"].default is False


def _push(server: WharfServer, repo: str, tag: str) -> str:
    """An image pushed into the upstream Wharf over /v2; its manifest digest."""
    token = server.token(f"repository:{repo}:push,pull")
    auth = {"Authorization": f"Bearer {token}"}
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}).encode()
    layer = os.urandom(1024)
    for blob in (config, layer):
        r = httpx.post(
            f"{server.url}/v2/{repo}/blobs/uploads/",
            params={"digest": sha256(blob)},
            content=blob,
            headers=auth,
        )
        assert r.status_code == 201, r.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha256(layer),
                "size": 1024,
            }
        ],
    }
    body = json.dumps(manifest).encode()
    r = httpx.put(
        f"{server.url}/v2/{repo}/manifests/{tag}",
        content=body,
        headers={**auth, "Content-Type": mt.OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    return sha256(body)


@pytest.fixture
def upstream_wharf(tmp_path: Path) -> Iterator[WharfServer]:
    server = WharfServer(tmp_path / "upstream-wharf" / "data", "upstream-password")
    server.data_dir.mkdir(parents=True)
    server.start(settings={"CREATE_PRIVATE_REPO_ON_PUSH": "false"})
    yield server
    server.stop()


async def test_a_quay_namespace_of_a_second_wharf_is_mirrored(
    world: World, upstream_wharf: WharfServer
) -> None:
    web = _push(upstream_wharf, "admin/web", "v1")
    _push(upstream_wharf, "admin/api", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    body = {
        "external_registry_type": "quay",
        "external_registry_url": upstream_wharf.url,
        "external_namespace": "admin",
        "robot_username": robot,
        "visibility": "public",
        "sync_interval": 3600,
        "sync_start_date": "2026-01-01T00:00:00Z",
        "repository_filters": ["web"],
    }
    r = await http.post(URL, json=body, headers=owner)
    assert r.status_code == 201, r.text
    r = await http.post(f"{URL}/verify", headers=owner)
    assert r.json()["success"] is True, r.text

    # sync-now queues the discovery; the runner runs it, then the repository syncs it queued
    assert (await http.post(f"{URL}/sync-now", headers=owner)).status_code == 204
    while await runner.run_once(rt):
        pass
    r = await http.get(f"{URL}/repositories", headers=owner)
    found = [(i["name"], i["sync_status"]) for i in r.json()["repositories"]]
    assert found == [("api", "SKIP"), ("web", "SUCCESS")]
    repo = await rt.db.read(repositories.get, "acme", "web")
    assert repo is not None and repo.visibility == "public"
    assert await rt.db.read(_tag_digest(repo.id, "v1")) == web


async def test_only_the_org_mirror_robot_pushes_to_its_repositories(world: World) -> None:
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    r = await http.put("/api/v1/organization/acme/robots/orgmirror", json={}, headers=owner)
    robot = r.json()["name"]
    body = {
        "external_registry_type": "quay",
        "external_registry_url": "https://quay.example.com",
        "external_namespace": "upstream",
        "robot_username": robot,
        "visibility": "private",
        "sync_interval": 3600,
        "sync_start_date": "2026-01-01T00:00:00Z",
    }
    assert (await http.post(URL, json=body, headers=owner)).status_code == 201
    org = await rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    config = await rt.db.read(org_mirrors.require, org.id)
    repo = await rt.db.write(org_mirror_repos.adopt, rt.secrets, org, config, "tool")
    assert repo is not None
    token = await world.reg.token("repository:acme/tool:pull,push", user="owner", password=PW)
    r = await http.post("/v2/acme/tool/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    r = await http.put("/api/v1/repository/acme/tool", json={"description": "x"}, headers=owner)
    assert r.status_code == 503, r.text


class _EndlessHarbor:
    """A registry whose repository listing never ends: a chunked JSON array that goes on until the
    client hangs up (or 256 MiB, where a client that reads it all has clearly not stopped)."""

    GIVE_UP = 256 * 1024 * 1024

    def __init__(self) -> None:
        self.sent = 0
        endless = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                entry = b'{"name": "proj/' + b"a" * 200 + b'"},'
                chunk = b"[" + entry * 300
                try:
                    while endless.sent < endless.GIVE_UP:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        endless.sent += len(chunk)
                        chunk = entry * 300
                except OSError:  # the client stopped reading and closed
                    pass
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _EndlessHarbor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_a_listing_larger_than_the_cap_is_read_no_further(world: World) -> None:
    """The discovery reads the upstream's answer as it comes and stops at 8 MiB, with a clear
    error, rather than holding the whole answer first."""
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with _EndlessHarbor() as endless:
        assert (await http.post(URL, json=_body(endless, robot), headers=owner)).status_code == 201
        org = await rt.db.read(accounts.get_by_name, "acme")
        assert org is not None
        outcome = await org_mirroring.sync(rt, org.id)
        assert outcome is not None and outcome.status == org_mirrors.SYNC_FAILED, outcome
        error = (await http.get(URL, headers=owner)).json()["last_error"]
        assert "larger than 8 MiB" in error, error
        # what the server wrote before the client hung up: the cap and what the sockets buffer
        assert endless.sent < 4 * org_registries.MAX_BODY, endless.sent


def _raw_rows(db: Db) -> str:
    """Every mirror row's stored configuration and sealed proxy passwords, read with SQL."""
    rows = [
        *db.execute(text("SELECT external_registry_config, proxy_passwords_sealed FROM org_mirror_configs")),
        *db.execute(text("SELECT external_registry_config, proxy_passwords_sealed FROM repo_mirror_configs")),
    ]
    return repr(rows)


async def test_the_discovery_goes_through_a_socks5_proxy_with_a_login(world: World, harbor: Harbor) -> None:
    harbor.registry.push_image("proj/web", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with SocksProxy(login=("sock", "s0cks-pw")) as proxy:
        proxied = f"socks5h://sock:s0cks-pw@127.0.0.1:{proxy.port}"
        config = {"verify_tls": True, "proxy": {"http_proxy": proxied}}
        r = await http.post(URL, json=_body(harbor, robot, external_registry_config=config), headers=owner)
        assert r.status_code == 201, r.text
        assert (await http.post(f"{URL}/verify", headers=owner)).json()["success"] is True
        port = harbor.url.rsplit(":", 1)[1]
        assert proxy.count(f"CONNECT 127.0.0.1:{port}") == 1
        shown = (await http.get(URL, headers=owner)).json()["external_registry_config"]["proxy"]
        assert shown == {"http_proxy": f"socks5h://sock:********@127.0.0.1:{proxy.port}"}
        # sent back as shown, the configuration keeps the password: the proxy still lets it in
        r = await http.put(URL, json={"external_registry_config": {**config, "proxy": shown}}, headers=owner)
        assert r.status_code == 200, r.text
        assert (await http.post(f"{URL}/verify", headers=owner)).json()["success"] is True
        assert proxy.count("refused") == 0

        # the repositories it makes take its sealed password, and sync through the proxy
        org = await rt.db.read(accounts.get_by_name, "acme")
        assert org is not None
        outcome = await org_mirroring.sync(rt, org.id)
        assert outcome is not None and outcome.mirrored == ["web"], outcome
        web = await rt.db.read(repositories.get, "acme", "web")
        assert web is not None
        mirror = await rt.db.read(mirrors.require, web.id)
        assert mirror.external_registry_config["proxy"] == shown
        assert mirror.outbound_config(rt.secrets)["proxy"]["http_proxy"] == proxied
        synced = await mirroring.sync(rt, web.id)
        assert synced is not None and synced.copied == ["v1"], synced
        assert proxy.count("refused") == 0
        # a new password reaches them too (the proxy refuses it)
        changed = {**config, "proxy": {"http_proxy": proxied.replace("s0cks-pw", "new-pw")}}
        r = await http.put(URL, json={"external_registry_config": changed}, headers=owner)
        assert r.status_code == 200, r.text
        mirror = await rt.db.read(mirrors.require, web.id)
        assert "new-pw@" in mirror.outbound_config(rt.secrets)["proxy"]["http_proxy"]
        # in the database, no password of either in clear
        rows = await rt.db.read(_raw_rows)
        assert "s0cks-pw" not in rows and "new-pw" not in rows and rows.count("********") == 2, rows

"""Repository mirroring: Quay's /api/v1/repository/{R}/mirror operations, and syncs from a real
upstream registry (CNCF distribution on loopback)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.conftest import Clock
from tests.distribution import Distribution, require_distribution, sha256
from tests.http_proxy import HttpProxy, tls_for_loopback
from tests.integration.world import PW, World, api_token
from tests.socks_proxy import SocksProxy
from wharf.config import Settings
from wharf.core import accounts, manifests, mirrors, org_mirror_repos, org_mirrors, queue, repositories
from wharf.core.clock import now_ms
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import LogEntry
from wharf.integrations.upstream import Proxies, RegistryClient, Upstream, UpstreamError
from wharf.jobs import runner
from wharf.services import mirroring

URL = "/api/v1/repository/acme/app/mirror"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "FEATURE_REPO_MIRROR": True,
            "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
            "GLOBAL_READONLY_SUPER_USERS": ["auditor"],
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


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    """The module's one registry over HTTPS, with a self-signed certificate (no CA trusts it)."""
    require_distribution()
    server = Distribution(tmp_path_factory.mktemp("tls-upstream"), tls=True)
    server.start()
    yield server
    server.stop()


async def _robot(world: World) -> str:
    r = await world.reg.http.put(
        "/api/v1/organization/acme/robots/mirror", json={}, headers=world.api["owner"]
    )
    assert r.status_code in (200, 201), r.text
    return "acme+mirror"


def _body(upstream: Distribution, robot: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_reference": f"{upstream.host}/proj/app",
        "sync_interval": 3600,
        "sync_start_date": "2026-01-01T00:00:00Z",
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["v*", "multi"]},
        "robot_username": robot,
        "external_registry_config": {"verify_tls": False},
        "skopeo_timeout_interval": 300,
        **extra,
    }


async def _repo(world: World) -> RepositoryRecord:
    repo = await world.reg.wharf.rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    return repo


def _digest_of(repo_id: int, tag: str) -> Any:
    def read(db: Db) -> str | None:
        return db.execute(manifests.alive_tag_digest(repo_id, tag, now_ms())).scalar()

    return read


def _raw_row(db: Db, repository_id: int) -> tuple[str, str | None]:
    """The stored configuration and sealed proxy passwords, read with SQL (no core function)."""
    row = db.execute(
        text(
            "SELECT external_registry_config, proxy_passwords_sealed FROM repo_mirror_configs"
            " WHERE repository_id = :id"
        ),
        {"id": repository_id},
    ).one()
    return str(row[0]), row[1]


async def _kinds(world: World) -> list[str]:
    r = await world.reg.http.get("/api/v1/repository/acme/app/logs", headers=world.api["owner"])
    return [e["kind"] for e in r.json()["logs"]]


async def test_a_sync_copies_the_matching_tags_and_then_only_what_changed(
    world: World, upstream: Distribution
) -> None:
    v1, _, contents = upstream.push_image("proj/app", "v1")
    v2, _, _ = upstream.push_image("proj/app", "v2")
    upstream.push_image("proj/app", "latest")
    upstream.push_image("proj/app", "dev")
    multi, _children = upstream.push_index("proj/app", "multi")
    http, rt = world.reg.http, world.reg.wharf.rt
    robot = await _robot(world)

    r = await http.post(URL, json=_body(upstream, robot), headers=world.api["owner"])
    assert r.status_code == 201, r.text
    repo = await _repo(world)
    assert repo.state == repositories.MIRROR

    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_SUCCESS, outcome
    assert outcome.copied == ["multi", "v1", "v2"]
    assert await rt.db.read(_digest_of(repo.id, "v1")) == v1
    assert await rt.db.read(_digest_of(repo.id, "v2")) == v2
    assert await rt.db.read(_digest_of(repo.id, "multi")) == multi
    assert await rt.db.read(_digest_of(repo.id, "latest")) is None
    assert await rt.db.read(_digest_of(repo.id, "dev")) is None

    # the blobs are in Wharf: pulled through /v2 with the owner's token
    headers = await world.reg.headers("acme/app", "pull", user="owner", password=PW)
    r = await http.get(f"/v2/acme/app/blobs/{sha256(contents[1])}", headers=headers)
    assert r.status_code == 200 and r.content == contents[1]

    r = await http.get(URL, headers=world.api["owner"])
    state = r.json()
    assert state["sync_status"] == "SYNC_SUCCESS"
    assert (state["tags_done"], state["tags_total"]) == (3, 3)
    assert state["robot_username"] == robot
    assert state["root_rule"] == {"rule_kind": "tag_glob_csv", "rule_value": ["v*", "multi"]}
    assert state["external_reference"] == f"{upstream.host}/proj/app"

    # the sync used the process's pooled clients (the next one reuses its connections)
    config = await rt.db.read(mirrors.require, repo.id)
    assert rt.upstream_clients.holds(mirroring.upstream_of(rt, config))

    # a second sync finds everything present; a moved tag is copied again
    again = await mirroring.sync(rt, repo.id)
    assert again is not None and again.copied == [] and again.skipped == ["multi", "v1", "v2"]
    moved, _, _ = upstream.push_image("proj/app", "v1")
    third = await mirroring.sync(rt, repo.id)
    assert third is not None and third.copied == ["v1"]
    assert await rt.db.read(_digest_of(repo.id, "v1")) == moved

    kinds = await _kinds(world)
    assert "repo_mirror_sync_started" in kinds and "repo_mirror_sync_success" in kinds


async def test_only_the_mirror_robot_pushes_to_a_mirror(world: World, upstream: Distribution) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put("/api/v1/organization/acme/robots/mirror", json={}, headers=owner)
    assert r.status_code in (200, 201), r.text
    robot, robot_token = r.json()["name"], r.json()["token"]
    r = await http.put(
        f"/api/v1/repository/acme/app/permissions/user/{robot}", json={"role": "write"}, headers=owner
    )
    assert r.status_code == 200, r.text
    r = await http.post(URL, json=_body(upstream, robot), headers=owner)
    assert r.status_code == 201, r.text

    token = await world.reg.token("repository:acme/app:pull,push", user="owner", password=PW)
    r = await http.post("/v2/acme/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "DENIED"

    token = await world.reg.token("repository:acme/app:pull,push", user=robot, password=robot_token)
    data = b"pushed by the mirror robot"
    r = await http.post(
        "/v2/acme/app/blobs/uploads/",
        params={"digest": sha256(data)},
        content=data,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text


async def test_a_repository_an_org_mirror_manages_refuses_a_configuration(world: World) -> None:
    """Its mirror is the organization mirror's: changeRepoMirrorConfig is refused (Quay's 400)
    and the mark by which a later organization mirror takes it back stays."""
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    org = await rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    config = org_mirrors.Settings(
        external_registry_type="quay",
        external_registry_url="https://quay.example.com",
        external_namespace="upstream",
        robot_username=robot,
        visibility="private",
        sync_interval=3600,
        sync_start_ms=0,
    )
    record = await rt.db.write(org_mirrors.create, rt.secrets, org, config, None)
    repo = await rt.db.write(org_mirror_repos.adopt, rt.secrets, org, record, "tool")
    assert repo is not None and repo.state == repositories.ORG_MIRROR
    url = "/api/v1/repository/acme/tool/mirror"
    r = await http.put(url, json={"sync_interval": 60, "is_enabled": False}, headers=owner)
    assert r.status_code == 400, r.text
    assert r.json()["error_type"] == "invalid_request"
    assert "managed by the organization's mirror" in r.json()["error_message"]
    mirror = await rt.db.read(mirrors.require, repo.id)
    assert mirror.org_mirror and mirror.is_enabled and mirror.sync_interval == 3600
    r = await http.post(
        url,
        json={
            "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
            "external_reference": "quay.example.com/a/b",
        },
        headers=owner,
    )
    assert r.status_code == 400 and "managed by" in r.json()["error_message"]
    # reading it and syncing it now stay open to the repository's admins
    assert (await http.get(url, headers=owner)).status_code == 200


async def test_the_queued_job_runs_the_sync_and_a_cancel_stops_it(
    world: World, upstream: Distribution
) -> None:
    digest, _, _ = upstream.push_image("proj/app", "v1")
    rt = world.reg.wharf.rt
    robot = await _robot(world)
    r = await world.reg.http.post(URL, json=_body(upstream, robot), headers=world.api["owner"])
    assert r.status_code == 201
    repo = await _repo(world)
    # creating the configuration queued the first sync; the runner runs it
    while await runner.run_once(rt):
        pass
    assert await rt.db.read(_digest_of(repo.id, "v1")) == digest
    done = await rt.db.read(mirrors.require, repo.id)
    assert done.sync_status == mirrors.SYNC_SUCCESS
    # the next one is due an interval later, when the periodic job queues it
    assert repo.id not in await rt.db.read(mirrors.due, now_ms())
    assert repo.id in await rt.db.read(mirrors.due, done.sync_start_ms)

    # a sync sees a cancel at its next tag
    assert await rt.db.write(mirrors.begin, repo.id) is not None
    assert await rt.db.write(mirrors.progress, repo.id, 0, 2)
    assert await rt.db.write(mirrors.sync_cancel, repo, None)
    assert not await rt.db.write(mirrors.progress, repo.id, 1, 2)


async def test_sync_now_and_cancel(world: World, upstream: Distribution) -> None:
    http, owner = world.reg.http, world.api["owner"]
    robot = await _robot(world)
    assert (await http.post(URL, json=_body(upstream, robot), headers=owner)).status_code == 201
    assert (await http.post(URL, json=_body(upstream, robot), headers=owner)).status_code == 400

    r = await http.post(f"{URL}/sync-now", headers=owner)
    assert r.status_code == 204, r.text
    assert (await http.get(URL, headers=owner)).json()["sync_status"] == "SYNC_NOW"
    assert (await http.post(f"{URL}/sync-cancel", headers=owner)).status_code == 204
    assert (await http.get(URL, headers=owner)).json()["sync_status"] == "CANCEL"
    assert (await http.post(f"{URL}/sync-cancel", headers=owner)).status_code == 404

    r = await http.put(URL, json={"is_enabled": False, "sync_interval": 60}, headers=owner)
    assert r.status_code == 201, r.text
    state = (await http.get(URL, headers=owner)).json()
    assert state["is_enabled"] is False and state["sync_interval"] == 60
    assert "repo_mirror_disabled" in await _kinds(world)


async def test_only_repository_admins_reach_the_mirror(world: World, upstream: Distribution) -> None:
    http = world.reg.http
    robot = await _robot(world)
    body = _body(upstream, robot)
    # readers and writers are told no; an outsider does not learn the private repository exists
    refused = {"reader": 403, "writer": 403, "outsider": 404}
    for user, status in refused.items():
        assert (await http.post(URL, json=body, headers=world.api[user])).status_code == status
    assert (await http.post(URL, json=body, headers=world.api["direct"])).status_code == 201
    for user, status in refused.items():
        headers = world.api[user]
        assert (await http.get(URL, headers=headers)).status_code == status
        assert (await http.put(URL, json={"is_enabled": False}, headers=headers)).status_code == status
        assert (await http.post(f"{URL}/sync-now", headers=headers)).status_code == status
    assert (await http.get(URL)).status_code in (401, 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("external_reference", "https://quay.io/a/b"),
        ("external_reference", "quay.io"),
        ("root_rule", {"rule_kind": "regex", "rule_value": ["x"]}),
        ("root_rule", {"rule_kind": "tag_glob_csv", "rule_value": []}),
        ("robot_username", "someoneelse+robot"),
        ("sync_start_date", "yesterday"),
    ],
)
async def test_a_bad_configuration_is_refused(
    world: World, upstream: Distribution, field: str, value: object
) -> None:
    robot = await _robot(world)
    r = await world.reg.http.post(
        URL, json=_body(upstream, robot, **{field: value}), headers=world.api["owner"]
    )
    assert r.status_code == 400, r.text
    assert field in r.json()["detail"]


async def test_the_timeout_has_quays_bounds(world: World, upstream: Distribution) -> None:
    http, owner = world.reg.http, world.api["owner"]
    robot = await _robot(world)
    for seconds, word in ((299, "less than 300"), (43201, "more than 43200")):
        r = await http.post(URL, json=_body(upstream, robot, skopeo_timeout_interval=seconds), headers=owner)
        assert r.status_code == 400 and word in r.json()["detail"], r.text
    assert (await http.post(URL, json=_body(upstream, robot), headers=owner)).status_code == 201
    r = await http.put(URL, json={"skopeo_timeout_interval": 120}, headers=owner)
    assert r.status_code == 400 and "Skopeo timeout interval" in r.json()["detail"], r.text
    r = await http.put(URL, json={"skopeo_timeout_interval": 43200}, headers=owner)
    assert r.status_code == 201, r.text


async def test_a_sync_goes_through_the_configured_proxy_unless_no_proxy_names_the_host(
    world: World, upstream: Distribution
) -> None:
    upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with HttpProxy() as proxy:
        through: dict[str, str | None] = {"http_proxy": proxy.url, "https_proxy": None, "no_proxy": None}
        via = {"verify_tls": False, "proxy": through}
        r = await http.post(URL, json=_body(upstream, robot, external_registry_config=via), headers=owner)
        assert r.status_code == 201, r.text
        repo = await _repo(world)
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.copied == ["v1"], outcome
        # the tag list, the HEAD, the manifest and the blobs all went through it
        assert proxy.count(f"GET {upstream.host}") >= 4 and proxy.count(f"HEAD {upstream.host}") == 1
        assert (await http.get(URL, headers=owner)).json()["external_registry_config"] == via

        # no_proxy names the upstream's address: straight there
        direct = {**via, "proxy": {**through, "no_proxy": "example.com, 127.0.0.1"}}
        r = await http.put(URL, json={"external_registry_config": direct}, headers=owner)
        assert r.status_code == 201, r.text
        upstream.push_image("proj/app", "v2")
        before = proxy.count()
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.copied == ["v2"], outcome
        assert proxy.count() == before

    # the proxy gone, a sync through it fails (nothing reaches the upstream another way)
    r = await http.put(URL, json={"external_registry_config": via}, headers=owner)
    upstream.push_image("proj/app", "v3")
    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_FAILED, outcome


@pytest.mark.parametrize(
    ("proxy", "word"),
    [
        ({"http_proxy": "http://10.0.0.1:3128"}, "SSRF_ALLOWED_HOSTS"),
        ({"https_proxy": "http://169.254.169.254"}, "SSRF_ALLOWED_HOSTS"),
        ({"http_proxy": "socks4://proxy.example.com:1080"}, "not a proxy"),
        ({"https_proxy": "socks5h://user:pw@10.0.0.1:1080"}, "SSRF_ALLOWED_HOSTS"),
        ({"ftp_proxy": "http://proxy.example.com"}, "http_proxy, https_proxy and no_proxy"),
    ],
)
async def test_a_proxy_at_an_internal_address_or_of_another_kind_is_refused(
    world: World, upstream: Distribution, proxy: dict[str, str], word: str
) -> None:
    robot = await _robot(world)
    config = {"verify_tls": False, "proxy": proxy}
    r = await world.reg.http.post(
        URL, json=_body(upstream, robot, external_registry_config=config), headers=world.api["owner"]
    )
    assert r.status_code == 400 and word in r.json()["detail"], r.text


async def test_a_sync_goes_through_a_tls_proxy_that_wants_a_login_whose_password_is_never_shown(
    world: World,
    upstream: Distribution,
    tls_upstream: Distribution,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An `https://` proxy: TLS to the proxy (its certificate checked against the CAs Wharf
    trusts), Basic Proxy-Authorization from the URL's credentials; to an `https://` upstream
    through its CONNECT, TLS in TLS."""
    caplog.set_level(logging.DEBUG)
    ca, context = tls_for_loopback(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with HttpProxy(tls=context, login=("puller", "pr0xy-pw")) as proxy:
        secret = f"https://puller:pr0xy-pw@127.0.0.1:{proxy.port}"
        config = {"verify_tls": False, "proxy": {"http_proxy": secret}}
        r = await http.post(URL, json=_body(upstream, robot, external_registry_config=config), headers=owner)
        assert r.status_code == 201, r.text
        repo = await _repo(world)
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.copied == ["v1"], outcome
        assert proxy.count(f"GET {upstream.host}") >= 4 and proxy.count("407") == 0

        # the API shows the proxy with its password hidden; the configuration sent back as shown
        # keeps it
        shown = (await http.get(URL, headers=owner)).json()["external_registry_config"]
        hidden = f"https://puller:********@127.0.0.1:{proxy.port}"
        assert shown == {"verify_tls": False, "proxy": {"http_proxy": hidden}}, shown
        r = await http.put(URL, json={"external_registry_config": shown}, headers=owner)
        assert r.status_code == 201, r.text
        mirror = await rt.db.read(mirrors.require, repo.id)
        assert mirror.outbound_config(rt.secrets)["proxy"]["http_proxy"] == secret
        # the database holds it sealed only: the stored URL is the shown one
        row = await rt.db.read(_raw_row, repo.id)
        assert "pr0xy-pw" not in str(row) and hidden in row[0] and row[1] is not None, row

        # an https:// upstream through the same proxy's CONNECT
        tls_upstream.push_image("tunneled/app", "v1")
        config = {"verify_tls": False, "proxy": {"https_proxy": secret}}
        reference = f"{tls_upstream.host}/tunneled/app"
        r = await http.put(
            URL,
            json={"external_reference": reference, "external_registry_config": config},
            headers=owner,
        )
        assert r.status_code == 201, r.text
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.status == mirrors.SYNC_SUCCESS, outcome
        assert proxy.count(f"CONNECT {tls_upstream.host}") >= 1

        # a wrong password: the proxy refuses, the sync fails, saying so without the password
        wrong = {"verify_tls": False, "proxy": {"https_proxy": secret.replace("pr0xy-pw", "nope-pw")}}
        assert (
            await http.put(URL, json={"external_registry_config": wrong}, headers=owner)
        ).status_code == 201
        tls_upstream.push_image("tunneled/app", "v2")
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.status == mirrors.SYNC_FAILED, outcome
        assert proxy.count("407 CONNECT") >= 1
        error = (await http.get(URL, headers=owner)).json()["last_error"]
        assert "407" in error and "nope-pw" not in error, error

    assert "pr0xy-pw" not in caplog.text and "nope-pw" not in caplog.text
    logs = (await http.get("/api/v1/repository/acme/app/logs", headers=owner)).text
    assert "pr0xy-pw" not in logs and "nope-pw" not in logs


async def test_an_untrusted_tls_proxy_is_refused(
    world: World, upstream: Distribution, tmp_path: Path
) -> None:
    """The proxy's certificate is checked whatever the upstream's verify_tls (which is about the
    registry): here no CA Wharf trusts signed it."""
    _ca, context = tls_for_loopback(tmp_path)
    upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with HttpProxy(tls=context) as proxy:
        config = {"verify_tls": False, "proxy": {"http_proxy": proxy.url}}
        r = await http.post(URL, json=_body(upstream, robot, external_registry_config=config), headers=owner)
        assert r.status_code == 201, r.text
        outcome = await mirroring.sync(rt, (await _repo(world)).id)
        assert outcome is not None and outcome.status == mirrors.SYNC_FAILED, outcome
        assert proxy.count("GET") == 0
    error = (await http.get(URL, headers=owner)).json()["last_error"]
    assert "certificate" in error.lower(), error


async def test_a_sync_goes_through_a_socks5_proxy(
    world: World, upstream: Distribution, tls_upstream: Distribution
) -> None:
    """`socks5h://` with a login for a plain-HTTP upstream; `socks5://` (the address Wharf
    checked is what the proxy is asked for) for an HTTPS one, TLS end to end."""
    upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with SocksProxy(login=("sock", "s0cks-pw")) as proxy:
        proxied = f"socks5h://sock:s0cks-pw@127.0.0.1:{proxy.port}"
        config = {"verify_tls": False, "proxy": {"http_proxy": proxied}}
        r = await http.post(URL, json=_body(upstream, robot, external_registry_config=config), headers=owner)
        assert r.status_code == 201, r.text
        repo = await _repo(world)
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.copied == ["v1"], outcome
        assert proxy.count(f"CONNECT {upstream.host}") >= 1 and proxy.count("refused") == 0
        shown = (await http.get(URL, headers=owner)).json()["external_registry_config"]["proxy"]
        assert shown == {"http_proxy": f"socks5h://sock:********@127.0.0.1:{proxy.port}"}

    with SocksProxy() as proxy:
        tls_upstream.push_image("socksed/app", "v1")
        config = {"verify_tls": False, "proxy": {"https_proxy": proxy.url}}
        reference = f"{tls_upstream.host}/socksed/app"
        body = {"external_reference": reference, "external_registry_config": config}
        assert (await http.put(URL, json=body, headers=owner)).status_code == 201
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.status == mirrors.SYNC_SUCCESS, outcome
        assert proxy.count(f"CONNECT {tls_upstream.host}") >= 1


def _write_as_before(repository_id: int, config: dict[str, Any]) -> Any:
    """A configuration as a Wharf before migration 0046 stored it: the proxy's password in clear."""

    def write(db: Db) -> None:
        db.execute(
            text(
                "UPDATE repo_mirror_configs SET external_registry_config = :config,"
                " proxy_passwords_sealed = NULL WHERE repository_id = :id"
            ),
            {"config": json.dumps(config), "id": repository_id},
        )

    return write


async def test_a_proxy_password_stored_in_clear_before_keeps_working_until_a_write_seals_it(
    world: World, upstream: Distribution
) -> None:
    upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    with HttpProxy(login=("puller", "old-pw")) as proxy:
        clear = f"http://puller:old-pw@127.0.0.1:{proxy.port}"
        hidden = f"http://puller:********@127.0.0.1:{proxy.port}"
        r = await http.post(URL, json=_body(upstream, robot), headers=owner)
        assert r.status_code == 201, r.text
        repo = await _repo(world)
        await rt.db.write(_write_as_before(repo.id, {"verify_tls": False, "proxy": {"http_proxy": clear}}))

        # the sync logs in to the proxy with it; the API shows it hidden
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.copied == ["v1"], outcome
        assert proxy.count(f"GET {upstream.host}") >= 4 and proxy.count("407") == 0
        shown = (await http.get(URL, headers=owner)).json()["external_registry_config"]
        assert shown == {"verify_tls": False, "proxy": {"http_proxy": hidden}}, shown

        # any write of the configuration seals it, one that does not touch the proxy too
        r = await http.put(URL, json={"sync_interval": 7200}, headers=owner)
        assert r.status_code == 201, r.text
        stored, sealed = await rt.db.read(_raw_row, repo.id)
        assert "old-pw" not in stored + str(sealed) and hidden in stored, stored
        kinds = await _kinds(world)
        assert kinds.count("repo_mirror_config_changed") == 1
        upstream.push_image("proj/app", "v2")
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.copied == ["v2"], outcome
        assert proxy.count("407") == 0

        # sent back as shown, an older row's password is kept (and sealed)
        await rt.db.write(_write_as_before(repo.id, {"verify_tls": False, "proxy": {"http_proxy": clear}}))
        r = await http.put(URL, json={"external_registry_config": shown}, headers=owner)
        assert r.status_code == 201, r.text
        stored, sealed = await rt.db.read(_raw_row, repo.id)
        assert "old-pw" not in stored + str(sealed) and sealed is not None
        mirror = await rt.db.read(mirrors.require, repo.id)
        assert mirror.outbound_config(rt.secrets)["proxy"]["http_proxy"] == clear

        # a new password replaces it; one hidden for another proxy is refused
        moved = {"verify_tls": False, "proxy": {"http_proxy": hidden.replace("127.0.0.1", "localhost")}}
        r = await http.put(URL, json={"external_registry_config": moved}, headers=owner)
        assert r.status_code == 400 and "write the proxy's password" in r.json()["detail"], r.text
        new = {"verify_tls": False, "proxy": {"http_proxy": clear.replace("old-pw", "new-pw")}}
        r = await http.put(URL, json={"external_registry_config": new}, headers=owner)
        assert r.status_code == 201, r.text
        upstream.push_image("proj/app", "v3")
        outcome = await mirroring.sync(rt, repo.id)
        assert outcome is not None and outcome.status == mirrors.SYNC_FAILED, outcome
        assert proxy.count("407") >= 1


async def test_an_https_upstream_is_reached_through_the_proxys_connect(
    settings: Settings, upstream: Distribution
) -> None:
    """CONNECT carries the TLS to the registry: here the tunnel reaches a plain-HTTP server, so the
    handshake fails, but the proxy saw the tunnel to the registry's host."""
    with HttpProxy() as proxy:
        target = Upstream(upstream.host, proxies=Proxies(https=proxy.url))
        async with RegistryClient(settings, target, timeout_s=5) as client:
            with pytest.raises(UpstreamError):
                await client.ping()
        assert proxy.count(f"CONNECT {upstream.host}") >= 1


async def test_verify_tls_false_mirrors_a_self_signed_https_upstream_which_true_refuses(
    world: World, tls_upstream: Distribution
) -> None:
    v1, _, _ = tls_upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    verified = _body(tls_upstream, robot, external_registry_config={"verify_tls": True})
    assert (await http.post(URL, json=verified, headers=owner)).status_code == 201
    repo = await _repo(world)
    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_FAILED, outcome
    error = (await http.get(URL, headers=owner)).json()["last_error"]
    assert "TLS certificate is not trusted" in error and "self-signed" in error, error
    r = await http.get("/api/v1/repository/acme/app/logs", headers=owner)
    failed = [e for e in r.json()["logs"] if e["kind"] == "repo_mirror_sync_failed"]
    assert failed and "TLS certificate is not trusted" in failed[0]["metadata"]["message"], failed

    # skopeo's --src-tls-verify=false: HTTPS still (the registry speaks nothing else), unchecked
    r = await http.put(URL, json={"external_registry_config": {"verify_tls": False}}, headers=owner)
    assert r.status_code == 201, r.text
    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_SUCCESS, outcome
    assert outcome.copied == ["v1"] and await rt.db.read(_digest_of(repo.id, "v1")) == v1


async def test_verify_tls_false_falls_back_to_plain_http_for_a_registry_without_tls(
    settings: Settings, upstream: Distribution
) -> None:
    """Every other sync of this module mirrors a plain-HTTP registry with verify_tls false; here
    the client alone: HTTPS first, then plain HTTP. Without skip_tls_verify there is no fallback."""
    upstream.push_image("proj/app", "v1")
    target = Upstream(upstream.host, skip_tls_verify=True)
    async with RegistryClient(settings, target, timeout_s=5) as client:
        assert await client.ping() == "Valid"
        assert await client.tags("proj/app") == ["v1"]
    async with RegistryClient(settings, Upstream(upstream.host), timeout_s=5) as client:
        with pytest.raises(UpstreamError):
            await client.ping()


async def test_an_internal_upstream_is_refused_unless_allowed(world: World) -> None:
    robot = await _robot(world)
    body = {
        "external_reference": "169.254.169.254/latest/meta",
        "sync_interval": 60,
        "sync_start_date": "2026-01-01T00:00:00Z",
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
        "robot_username": robot,
        "external_registry_config": {"verify_tls": False},
    }
    r = await world.reg.http.post(URL, json=body, headers=world.api["owner"])
    assert r.status_code == 400, r.text
    assert "SSRF_ALLOWED_HOSTS" in r.json()["detail"]


async def test_bad_credentials_fail_the_sync_with_a_clear_status(
    world: World, locked_upstream: Distribution
) -> None:
    locked_upstream.push_image("proj/app", "v1")
    robot = await _robot(world)
    body = _body(
        locked_upstream, robot, external_registry_username="mirror", external_registry_password="wrong"
    )
    assert (await world.reg.http.post(URL, json=body, headers=world.api["owner"])).status_code == 201
    rt = world.reg.wharf.rt
    repo = await _repo(world)
    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_FAILED
    state = (await world.reg.http.get(URL, headers=world.api["owner"])).json()
    assert state["sync_status"] == "SYNC_FAILED"
    assert "refused the credentials" in state["last_error"]
    assert state["external_registry_username"] == "mirror"
    assert "repo_mirror_sync_failed" in await _kinds(world)

    # with the right password the next sync succeeds
    r = await world.reg.http.put(
        URL, json={"external_registry_password": "upstream-secret"}, headers=world.api["owner"]
    )
    assert r.status_code == 201
    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_SUCCESS, outcome
    assert outcome.copied == ["v1"]


async def test_tags_that_vanish_upstream_are_deleted_only_when_configured(
    world: World, upstream: Distribution
) -> None:
    upstream.push_image("proj/app", "v1")
    v2, _, _ = upstream.push_image("proj/app", "v2")
    rt = world.reg.wharf.rt
    robot = await _robot(world)
    assert (
        await world.reg.http.post(URL, json=_body(upstream, robot), headers=world.api["owner"])
    ).status_code == 201
    repo = await _repo(world)
    first = await mirroring.sync(rt, repo.id)
    assert first is not None and first.copied == ["v1", "v2"]
    upstream.delete_manifest("proj/app", v2)

    kept = await mirroring.sync(rt, repo.id)
    assert kept is not None and kept.status == mirrors.SYNC_SUCCESS
    assert await rt.db.read(_digest_of(repo.id, "v2")) == v2

    configured = rt.settings
    rt.settings = configured.model_copy(update={"REPO_MIRROR_DELETE_VANISHED_TAGS": True})
    try:
        pruned = await mirroring.sync(rt, repo.id)
    finally:
        rt.settings = configured
    assert pruned is not None and pruned.status == mirrors.SYNC_SUCCESS
    assert await rt.db.read(_digest_of(repo.id, "v2")) is None
    assert await rt.db.read(_digest_of(repo.id, "v1")) is not None
    assert "delete_tag" in await _kinds(world)


async def test_an_architecture_filter_mirrors_a_sparse_index(world: World, upstream: Distribution) -> None:
    multi, children = upstream.push_index("proj/app", "multi", ("amd64", "arm64", "s390x"))
    upstream.push_image("proj/app", "v1", arch="arm64")
    v2, _, _ = upstream.push_image("proj/app", "v2", arch="amd64")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    bad = _body(upstream, robot, architecture_filter=["amd64", "m68k"])
    assert (await http.post(URL, json=bad, headers=owner)).status_code == 400
    body = _body(upstream, robot, architecture_filter=["amd64", "s390x"])
    assert (await http.post(URL, json=body, headers=owner)).status_code == 201
    repo = await _repo(world)

    outcome = await mirroring.sync(rt, repo.id)
    assert outcome is not None and outcome.status == mirrors.SYNC_SUCCESS, outcome
    # the arm64 image is left out, as Quay does; the index keeps the upstream's bytes and digest
    assert (outcome.copied, outcome.filtered) == (["multi", "v2"], ["v1"])
    assert await rt.db.read(_digest_of(repo.id, "multi")) == multi
    assert await rt.db.read(_digest_of(repo.id, "v2")) == v2
    headers = await world.reg.headers("acme/app", "pull", user="owner", password=PW)
    accept = {**headers, "Accept": "application/vnd.oci.image.index.v1+json"}
    r = await http.get("/v2/acme/app/manifests/multi", headers=accept)
    assert r.status_code == 200 and sha256(r.content) == multi
    amd64, arm64, s390x = children
    statuses = [
        (await http.get(f"/v2/acme/app/manifests/{d}", headers=headers)).status_code for d in children
    ]
    assert statuses == [200, 404, 200]

    r = await http.get("/api/v1/repository/acme/app/tag/?specificTag=multi", headers=owner)
    tag = r.json()["tags"][0]
    assert tag["is_sparse"] is True
    assert (tag["child_manifest_count"], tag["present_child_count"]) == (3, 2)
    assert tag["child_manifests_presence"] == {amd64: True, arm64: False, s390x: True}

    # an index with none of the architectures fails the sync, saying why
    upstream.push_index("proj/app", "v3", ("arm64",))
    failed = await mirroring.sync(rt, repo.id)
    assert failed is not None and failed.status == mirrors.SYNC_FAILED
    assert "v3: no image for the architectures amd64, s390x" in (failed.error or "")
    assert failed.skipped == ["multi", "v2"]


async def test_a_sync_whose_worker_died_is_resumed_by_another_worker(
    world: World, upstream: Distribution, clock: Clock
) -> None:
    v1, _, _ = upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    assert (await http.post(URL, json=_body(upstream, robot), headers=owner)).status_code == 201
    repo = await _repo(world)
    while await runner.run_once(rt):
        pass
    v2, _, _ = upstream.push_image("proj/app", "v2")
    v3, _, _ = upstream.push_image("proj/app", "v3")
    assert (await http.post(f"{URL}/sync-now", headers=owner)).status_code == 204

    # a worker claims the sync, copies its first tag and dies (killed: nothing runs its finally)
    assert await rt.db.write(queue.claim_at, [mirroring.QUEUE], clock.now_ms()) is not None
    assert await rt.db.write(mirrors.begin, repo.id) is not None
    assert await rt.db.write(mirrors.progress, repo.id, 1, 3, 4096)
    state = (await http.get(URL, headers=owner)).json()
    assert state["sync_status"] == "SYNCING"
    assert (state["tags_done"], state["tags_total"], state["bytes_done"]) == (1, 3, 4096)
    assert (await http.post(f"{URL}/sync-now", headers=owner)).status_code == 404
    while await runner.run_once(rt):  # other workers leave it alone while its lease holds
        pass
    assert (await rt.db.read(mirrors.require, repo.id)).tags_done == 1

    # the lease lapses: another worker claims the job and resumes, skipping what is there
    clock.advance(queue.LEASE_MS / 1000 + 1)
    while await runner.run_once(rt):
        pass
    done = await rt.db.read(mirrors.require, repo.id)
    assert done.sync_status == mirrors.SYNC_SUCCESS, done.last_error
    assert (done.tags_done, done.tags_total) == (3, 3) and done.bytes_done > 0
    for tag, digest in (("v1", v1), ("v2", v2), ("v3", v3)):
        assert await rt.db.read(_digest_of(repo.id, tag)) == digest
    assert "2 tags copied, 1 already up to date" in await rt.db.read(_success_messages, repo.id)


def _success_messages(db: Db, repository_id: int) -> list[str]:
    # read from the table: the logs API's window ends at the machine's clock, which the test passed
    rows = db.execute(
        select(LogEntry.metadata_json).where(
            LogEntry.repository_id == repository_id, LogEntry.kind == "repo_mirror_sync_success"
        )
    )
    return [str(json.loads(r)["message"]) for r in rows.scalars()]


HEALTH = "/api/v1/repository/mirror/health"


async def test_mirror_health_for_members_and_superusers(world: World, upstream: Distribution) -> None:
    upstream.push_image("proj/app", "v1")
    http, rt, owner = world.reg.http, world.reg.wharf.rt, world.api["owner"]
    robot = await _robot(world)
    assert (await http.post(URL, json=_body(upstream, robot), headers=owner)).status_code == 201
    repo = await _repo(world)
    await mirroring.sync(rt, repo.id)
    await world.reg.create_user("auditor", PW)
    auditor = await api_token(world.reg, "auditor")

    r = await http.get(f"{HEALTH}?namespace=acme&detailed=true", headers=world.api["reader"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    health = r.json()
    assert health["healthy"] is True and health["tags_pending"] == 0
    assert health["repositories"]["total"] == 1 and health["repositories"]["completed"] == 1
    assert health["repositories"]["details"][0]["repository"] == "app"
    assert (await http.get(f"{HEALTH}?namespace=acme", headers=world.api["outsider"])).status_code == 403
    assert (await http.get(f"{HEALTH}?namespace=nobody", headers=owner)).status_code == 404
    # every namespace's: for superusers with full access and global read-only superusers
    assert (await http.get(HEALTH, headers=owner)).status_code == 403
    assert (await http.get(HEALTH, headers=auditor)).status_code == 200
    # the superuser panel's summary names no repository
    assert (await http.get("/api/v1/superuser/mirror/health", headers=owner)).status_code == 403
    r = await http.get("/api/v1/superuser/mirror/health", headers=world.api["admin"])
    assert r.status_code == 200 and r.json()["issues"] == [] and "details" not in r.json()["repositories"]

    # a read-only superuser reads a mirror's configuration, and changes nothing
    assert (await http.get(URL, headers=auditor)).status_code == 200
    assert (await http.put(URL, json={"is_enabled": False}, headers=auditor)).status_code == 403

    # failing mirrors make it unhealthy: 503, as Quay
    await rt.db.write(mirrors.finish, repo.id, mirrors.SYNC_FAILED, "upstream said 500")
    r = await http.get(f"{HEALTH}?namespace=acme", headers=owner)
    assert r.status_code == 503 and r.json()["issues"][0]["severity"] == "critical"

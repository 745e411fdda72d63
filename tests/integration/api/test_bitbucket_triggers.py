"""Bitbucket build triggers connected through Wharf's OAuth consumer (BITBUCKET_TRIGGER_CONFIG
with FEATURE_BITBUCKET_BUILD), against a real local Bitbucket (tests/bitbucket_server.py) through
the outbound guard: connect from the web UI, the wizard's helpers through /api/v1 (workspaces,
repositories across the body's pages, Dockerfiles, refs), activation adding the deploy key and the
signed push webhook, a delivery Bitbucket would make queuing a build, a manual start by branch,
an expired token renewed, and deletion removing the key and the webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.bitbucket_server import Bitbucket, running_bitbucket
from tests.conftest import TEST_HOSTNAME
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.config import Settings, load_settings

REPO = "acme/app"
TRIGGERS = f"/api/v1/repository/{REPO}/trigger/"
MAIN = "1111111111111111111111111111111111111111"
DEV = "2222222222222222222222222222222222222222"


@pytest.fixture(scope="module")
def bitbucket() -> Iterator[Bitbucket]:
    with running_bitbucket() as b:
        yield b


@pytest.fixture
def settings(
    data_dir: Path, db_uri: str | None, storage_config: dict[str, object], bitbucket: Bitbucket
) -> Settings:
    bitbucket.reset()
    bitbucket.add_repo(
        "bucky/app", {"main": MAIN, "dev": DEV}, ["Dockerfile", "sub/web.Dockerfile", "README.md"]
    )
    bitbucket.add_repo("bucky/tool", {"main": "5" * 40}, ["Dockerfile"])
    bitbucket.add_repo("team-ws/lib", {"trunk": "4" * 40}, ["Dockerfile"])
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the stand-in listens on loopback
        "FEATURE_BITBUCKET_BUILD": True,
        "BITBUCKET_TRIGGER_CONFIG": {
            "BITBUCKET_ENDPOINT": bitbucket.url,
            "API_ENDPOINT": bitbucket.api,
            "CONSUMER_KEY": bitbucket.key,
            "CONSUMER_SECRET": bitbucket.secret,
            "DEBUGGING": True,  # the stand-in speaks plain http
        },
        **storage_config,
    }
    found = load_settings(None, overrides, environ={})
    bitbucket.callback_url = found.public_origin + "/oauth2/bitbucket/callback/trigger"
    return found


@pytest.fixture
async def owner_browser(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def connect(browser: Visitor) -> str:
    """Press "Connect to Bitbucket", approve there, come back: the new trigger's uuid."""
    page = f"/repository/{REPO}/triggers"
    r = await browser.submit(page, f"{page}/bitbucket")
    assert r.status_code == 200, r.text
    found = re.search(r'<a href="([^"]+)" id="continue"', r.text)
    assert found is not None, r.text
    async with httpx.AsyncClient(follow_redirects=False) as at_bitbucket:
        r = await at_bitbucket.get(found[1].replace("&amp;", "&"))
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    r = await browser.get(f"{back.path}?{back.query}")
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[-1]


def _push_payload() -> bytes:
    change = {"new": {"type": "branch", "name": "main", "target": {"hash": MAIN, "message": "change"}}}
    return json.dumps({"push": {"changes": [change]}}).encode()


async def deliver(http: httpx.AsyncClient, hook: dict[str, Any], body: bytes) -> httpx.Response:
    """What Bitbucket does with a push: POST to the hook's URL, signed with its secret."""
    url = urlsplit(hook["url"])
    signature = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Event-Key": "repo:push", "X-Hub-Signature": signature, "Content-Type": "application/json"}
    return await http.post(
        url.path, content=body, headers=headers, auth=(url.username or "", url.password or "")
    )


async def test_connect_browse_activate_push_and_delete(
    world: World, owner_browser: Visitor, bitbucket: Bitbucket
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    bitbucket.token_lifetime = 0  # every call renews the token first
    uuid = await connect(owner_browser)
    bitbucket.page_size = 1
    r = await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=owner)
    assert r.status_code == 200, r.text
    assert [(n["id"], n["personal"]) for n in r.json()["namespaces"]] == [("bucky", True), ("team-ws", False)]
    r = await http.post(f"{TRIGGERS}{uuid}/sources", json={"namespace": "bucky"}, headers=owner)
    assert [s["full_name"] for s in r.json()["sources"]] == ["bucky/app", "bucky/tool"]
    assert r.json()["sources"][0]["private"] is True and r.json()["sources"][0]["last_updated"] > 0
    r = await http.post(f"{TRIGGERS}{uuid}/subdir", json={"build_source": "bucky/app"}, headers=owner)
    assert r.json()["dockerfile_paths"] == ["/Dockerfile", "/sub/web.Dockerfile"], r.text
    assert (await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=world.api["admin"])).status_code == 403

    body = {"config": {"build_source": "bucky/app"}}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["repository_url"] == f"{bitbucket.url}/bucky/app"
    assert (
        view["config"]["git_url"] == "git@127.0.0.1:bucky/app.git"
        and view["config"]["default_branch"] == "main"
    )
    ((key_id, key),) = bitbucket.keys["bucky/app"].items()
    ((hook_id, hook),) = bitbucket.hooks["bucky/app"].items()
    assert view["config"]["deploy_key_id"] == key_id and view["config"]["webhook_id"] == hook_id
    creds = {c["name"]: c["value"] for c in view["config"]["credentials"]}
    assert key["key"] == creds["SSH Public Key"] and hook["url"] == creds["Webhook Endpoint URL"]
    assert hook["events"] == ["repo:push"]

    r = await http.post(f"{TRIGGERS}{uuid}/fields/branch_name", headers=owner)
    assert r.json() == {"values": ["main", "dev"]}
    r = await deliver(http, hook, _push_payload())
    assert r.status_code == 200, r.text
    (build,) = (await http.get(f"{TRIGGERS}{uuid}/builds", headers=owner)).json()["builds"]
    assert build["trigger_metadata"]["commit"] == MAIN
    assert build["trigger_metadata"]["git_url"] == "git@127.0.0.1:bucky/app.git"
    r = await http.post(f"{TRIGGERS}{uuid}/start", json={"branch_name": "dev"}, headers=owner)
    assert r.status_code == 201, r.text
    assert r.json()["trigger_metadata"]["commit"] == DEV

    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert bitbucket.keys["bucky/app"] == {} and bitbucket.hooks["bucky/app"] == {}
    assert (await deliver(http, hook, _push_payload())).status_code == 404


async def test_refusals_leave_nothing_at_bitbucket(
    world: World, owner_browser: Visitor, bitbucket: Bitbucket
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    body: dict[str, Any] = {"config": {"build_source": "bucky/missing"}}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)
    assert r.status_code == 400 and "Unable to find Bitbucket repository" in r.text
    assert bitbucket.keys["bucky/app"] == {} and bitbucket.hooks["bucky/app"] == {}
    r = await owner_browser.get("/oauth2/bitbucket/callback/trigger?code=x&state=forged")
    assert r.status_code == 403
    assert len((await http.get(TRIGGERS, headers=owner)).json()["triggers"]) == 1
    # An access token Bitbucket stopped honouring before it expired (revoked): the trigger is
    # deleted anyway, its key and hook left at Bitbucket (the log says to remove them by hand).
    body = {"config": {"build_source": "bucky/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    bitbucket.tokens.clear()
    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert len(bitbucket.keys["bucky/app"]) == 1 and len(bitbucket.hooks["bucky/app"]) == 1


async def test_the_analyzer_reads_the_dockerfile_through_bitbucket(
    world: World, owner_browser: Visitor, bitbucket: Bitbucket
) -> None:
    """analyzeBuildTrigger reads the Dockerfile from the main branch's commit with Bitbucket's
    `src`; only the connecting user may check another repository."""
    http, owner = world.reg.http, world.api["owner"]
    bitbucket.contents["bucky/app"] = {
        "Dockerfile": b"FROM alpine:3\n",
        "sub/web.Dockerfile": f"FROM {TEST_HOSTNAME}/acme/app:base\n".encode(),
    }
    uuid = await connect(owner_browser)
    config = {"build_source": "bucky/app", "dockerfile_path": "/sub/web.Dockerfile"}
    analyzed = (await http.post(f"{TRIGGERS}{uuid}/analyze", json={"config": config}, headers=owner)).json()
    assert (analyzed["status"], analyzed["namespace"], analyzed["name"]) == ("requiresrobot", "acme", "app")
    assert ("GET", f"/2.0/repositories/bucky/app/src/{MAIN}/sub/web.Dockerfile") in bitbucket.calls
    public = {"config": {**config, "dockerfile_path": "/Dockerfile"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=public, headers=owner)
    assert r.json()["status"] == "publicbase", r.text
    missing = {"config": {**config, "dockerfile_path": "/nope/Dockerfile"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=missing, headers=owner)
    assert r.json()["status"] == "warning" and "not found" in r.json()["message"], r.text
    other = {"config": {**config, "build_source": "team-ws/lib"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=other, headers=world.api["admin"])
    assert r.status_code == 403, r.text


async def test_deleting_the_repository_removes_its_triggers_key_and_webhook_at_bitbucket(
    world: World, owner_browser: Visitor, bitbucket: Bitbucket
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    body = {"config": {"build_source": "bucky/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    assert len(bitbucket.keys["bucky/app"]) == 1 and len(bitbucket.hooks["bucky/app"]) == 1
    assert (await http.delete(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 204
    assert bitbucket.keys["bucky/app"] == {} and bitbucket.hooks["bucky/app"] == {}
    assert (await http.get(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 404

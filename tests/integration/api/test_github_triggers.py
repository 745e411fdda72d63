"""GitHub build triggers connected through Wharf's OAuth application (GITHUB_TRIGGER_CONFIG with
FEATURE_GITHUB_BUILD), against a real local GitHub (tests/github_server.py) through the outbound
guard: connect from the web UI (GitHub's redirects followed by hand), the wizard's helpers through
/api/v1 (namespaces, sources, subdir, fields), activation adding the deploy key and the push
webhook at GitHub, a push GitHub delivers to that webhook queuing a build, a manual start by
branch, and deletion removing the key and the webhook; and the web wizard's repository choice."""

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

from tests.conftest import TEST_HOSTNAME
from tests.github_server import GitHub, running_github
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.config import Settings, load_settings

REPO = "acme/app"
TRIGGERS = f"/api/v1/repository/{REPO}/trigger/"
MAIN = "1111111111111111111111111111111111111111"
DEV = "2222222222222222222222222222222222222222"
V1 = "3333333333333333333333333333333333333333"


@pytest.fixture(scope="module")
def github() -> Iterator[GitHub]:
    with running_github() as g:
        yield g


@pytest.fixture
def settings(
    data_dir: Path, db_uri: str | None, storage_config: dict[str, object], github: GitHub
) -> Settings:
    github.user = {"id": 583231, "login": "octocat", "name": "The Octocat"}
    github.orgs = ["Octo-Org"]
    github.page_size = 100
    github.failing_deletes = False
    github.repos.clear()
    github.add_repo(
        "octocat/app",
        {"main": MAIN, "dev": DEV},
        ["Dockerfile", "sub/web.Dockerfile", "README.md"],
        {"v1": V1},
    )
    github.add_repo("Octo-Org/lib", {"trunk": "4" * 40}, ["Dockerfile"])
    github.files["octocat/app"] = {"sub/web.Dockerfile": f"FROM {TEST_HOSTNAME}/acme/app:base\n".encode()}
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the stand-in listens on loopback
        "FEATURE_GITHUB_BUILD": True,
        "GITHUB_TRIGGER_CONFIG": {
            "GITHUB_ENDPOINT": github.url,
            "CLIENT_ID": github.client_id,
            "CLIENT_SECRET": github.client_secret,
            "DEBUGGING": True,  # the stand-in speaks plain http
        },
        **storage_config,
    }
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def owner_browser(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def connect(browser: Visitor) -> str:
    """Press "Connect to GitHub", approve at GitHub, come back: the new trigger's uuid."""
    page = f"/repository/{REPO}/triggers"
    r = await browser.submit(page, f"{page}/github")
    assert r.status_code == 200, r.text
    found = re.search(r'<a href="([^"]+)" id="continue"', r.text)
    assert found is not None, r.text
    auth_url = found[1].replace("&amp;", "&")
    async with httpx.AsyncClient(follow_redirects=False) as at_github:
        r = await at_github.get(auth_url)
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.path == f"/oauth2/github/callback/trigger/{REPO}"
    r = await browser.get(f"{back.path}?{back.query}")
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[-1]


def _push_payload() -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "after": MAIN,
            "repository": {"default_branch": "main", "ssh_url": "git@127.0.0.1:octocat/app.git"},
            "head_commit": {"id": MAIN, "message": "change", "author": {"username": "octocat"}},
        }
    ).encode()


async def deliver(http: httpx.AsyncClient, hook: dict[str, Any], body: bytes) -> httpx.Response:
    """What GitHub does with a push: POST to the hook's URL, signed with its secret."""
    url = urlsplit(hook["config"]["url"])
    signature = "sha256=" + hmac.new(hook["config"]["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature, "Content-Type": "application/json"}
    auth = (url.username or "", url.password or "")
    return await http.post(url.path, content=body, headers=headers, auth=auth)


async def test_connect_browse_activate_push_and_delete(
    world: World, owner_browser: Visitor, github: GitHub
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    assert "repo" in github.scopes[-1].split()
    r = await http.get(f"{TRIGGERS}{uuid}", headers=owner)
    assert r.json()["service"] == "github" and r.json()["is_active"] is False

    r = await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=owner)
    assert r.status_code == 200, r.text
    assert [(n["id"], n["personal"]) for n in r.json()["namespaces"]] == [
        ("octocat", True),
        ("Octo-Org", False),
    ]
    r = await http.post(f"{TRIGGERS}{uuid}/sources", json={"namespace": "octocat"}, headers=owner)
    assert [s["full_name"] for s in r.json()["sources"]] == ["octocat/app"]
    assert r.json()["sources"][0]["private"] is True and r.json()["sources"][0]["last_updated"] > 0
    r = await http.post(f"{TRIGGERS}{uuid}/sources", json={"namespace": "Octo-Org"}, headers=owner)
    assert [s["full_name"] for s in r.json()["sources"]] == ["Octo-Org/lib"]
    r = await http.post(f"{TRIGGERS}{uuid}/subdir", json={"build_source": "octocat/app"}, headers=owner)
    assert r.json()["status"] == "success"
    assert r.json()["dockerfile_paths"] == ["/Dockerfile", "/sub/web.Dockerfile"]
    assert r.json()["contextMap"]["/sub/web.Dockerfile"] == ["/", "/sub"]
    # Another admin may not read GitHub with the owner's token.
    assert (await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=world.api["admin"])).status_code == 403

    body = {"config": {"build_source": "octocat/app", "dockerfile_path": "/sub/web.Dockerfile"}}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["is_active"] is True and view["build_source"] == "octocat/app"
    assert view["repository_url"] == f"{github.url}/octocat/app"
    assert view["config"]["git_url"] == "git@127.0.0.1:octocat/app.git"
    assert view["config"]["default_branch"] == "main" and view["config"]["context"] == "sub"
    ((key_id, key),) = github.keys["octocat/app"].items()
    ((hook_id, hook),) = github.hooks["octocat/app"].items()
    assert view["config"]["deploy_key_id"] == key_id and view["config"]["hook_id"] == hook_id
    creds = {c["name"]: c["value"] for c in view["config"]["credentials"]}
    assert key["key"] == creds["SSH Public Key"] and key["read_only"] is True
    assert hook["config"]["url"] == creds["Webhook Endpoint URL"] and hook["events"] == ["push"]

    # The analyzer reads the Dockerfile through GitHub's contents API: its base is private here.
    analyzed = (await http.post(f"{TRIGGERS}{uuid}/analyze", json=body, headers=owner)).json()
    assert (analyzed["status"], analyzed["namespace"], analyzed["name"]) == ("requiresrobot", "acme", "app")
    assert ("GET", "/api/v3/repos/octocat/app/contents/sub/web.Dockerfile") in github.calls
    # Another admin may check the trigger's repository, not another through the owner's token.
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=body, headers=world.api["admin"])
    assert r.json()["status"] == "requiresrobot", r.text
    other = {"config": {**body["config"], "build_source": "Octo-Org/lib"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=other, headers=world.api["admin"])
    assert r.status_code == 403, r.text
    missing = {"config": {**body["config"], "dockerfile_path": "/nope/Dockerfile"}}
    analyzed = (await http.post(f"{TRIGGERS}{uuid}/analyze", json=missing, headers=owner)).json()
    assert analyzed["status"] == "warning", analyzed
    r = await http.post(f"{TRIGGERS}{uuid}/fields/branch_name", headers=owner)
    assert r.json() == {"values": ["main", "dev"]}
    r = await http.post(f"{TRIGGERS}{uuid}/fields/refs", headers=owner)
    assert {"kind": "tag", "name": "v1"} in r.json()["values"]

    r = await deliver(http, hook, _push_payload())
    assert r.status_code == 200, r.text
    r = await http.get(f"{TRIGGERS}{uuid}/builds", headers=owner)
    (build,) = r.json()["builds"]
    assert build["trigger_metadata"]["commit"] == MAIN
    assert build["trigger_metadata"]["git_url"] == "git@127.0.0.1:octocat/app.git"
    assert set(build["tags"]) >= {"main", "latest"}

    # A manual start by branch: GitHub says which commit it points at.
    r = await http.post(f"{TRIGGERS}{uuid}/start", json={"branch_name": "dev"}, headers=owner)
    assert r.status_code == 201, r.text
    assert r.json()["trigger_metadata"]["commit"] == DEV

    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert github.keys["octocat/app"] == {} and github.hooks["octocat/app"] == {}
    assert ("DELETE", f"/api/v3/repos/octocat/app/hooks/{hook_id}") in github.calls
    assert (await deliver(http, hook, _push_payload())).status_code == 404


async def test_refusals_leave_nothing_at_github(
    world: World, owner_browser: Visitor, github: GitHub, caplog: pytest.LogCaptureFixture
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    body: dict[str, Any] = {"config": {"build_source": "octocat/missing"}}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)
    assert r.status_code == 400 and "Unable to find GitHub repository" in r.text
    body = {"config": {"build_source": "git@elsewhere:x.git"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 400
    # A pull robot the user may not use is refused before GitHub is changed.
    body = {"config": {"build_source": "octocat/app"}, "pull_robot": "acme+nobody"}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code in (403, 404)
    assert github.keys["octocat/app"] == {} and github.hooks["octocat/app"] == {}

    # GitHub's callback with a state this browser did not get is refused, and creates nothing.
    r = await owner_browser.get(f"/oauth2/github/callback/trigger/{REPO}?code=x&state=forged")
    assert r.status_code == 403
    r = await http.get(TRIGGERS, headers=owner)
    assert len(r.json()["triggers"]) == 1

    # A token the user revoked at GitHub cannot remove the key and hook: the trigger goes anyway,
    # as GitLab's and Bitbucket's, and the log says what to remove by hand.
    body = {"config": {"build_source": "octocat/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    github.tokens.clear()
    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert len(github.keys["octocat/app"]) == 1 and len(github.hooks["octocat/app"]) == 1
    assert "remove its deploy key and webhook from octocat/app by hand" in caplog.text


async def test_the_trigger_page_activates_a_connected_trigger(
    world: World, owner_browser: Visitor, github: GitHub
) -> None:
    """The web wizard: the connected trigger's page offers the user's GitHub repositories, from
    every page of GitHub's lists."""
    github.add_repo("octocat/tool", {"main": "5" * 40}, ["Dockerfile"])
    uuid = await connect(owner_browser)
    github.page_size = 1
    before = len(github.calls)
    page = f"/repository/{REPO}/trigger/{uuid}"
    r = await owner_browser.get(page)
    assert r.status_code == 200, r.text
    for name in ("octocat/app", "octocat/tool", "Octo-Org/lib"):
        assert f"<option>{name}</option>" in r.text
    assert [p for _, p in github.calls[before:] if p == "/api/v3/user/repos"] == ["/api/v3/user/repos"] * 2
    r = await owner_browser.submit(page, f"{page}/activate", build_source="Octo-Org/lib")
    assert r.status_code == 303 and r.headers["location"] == page, r.text
    assert len(github.keys["Octo-Org/lib"]) == 1 and len(github.hooks["Octo-Org/lib"]) == 1
    r = await owner_browser.get(page)
    assert "enabled" in r.text and "Choose the GitHub repository" not in r.text
    r = await owner_browser.submit(page, f"{page}/delete")
    assert r.status_code == 303
    assert github.keys["Octo-Org/lib"] == {} and github.hooks["Octo-Org/lib"] == {}


async def test_deleting_the_repository_removes_its_triggers_keys_and_webhooks_at_github(
    world: World, owner_browser: Visitor, github: GitHub
) -> None:
    """As deleting each trigger would; an inactive trigger installed nothing, so is not asked."""
    http, owner = world.reg.http, world.api["owner"]
    for source in ("octocat/app", "Octo-Org/lib"):
        uuid = await connect(owner_browser)
        body = {"config": {"build_source": source}}
        assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
        assert len(github.keys[source]) == 1 and len(github.hooks[source]) == 1
    await connect(owner_browser)
    before = len(github.calls)
    assert (await http.delete(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 204
    assert (await http.get(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 404
    assert all(github.keys[s] == {} and github.hooks[s] == {} for s in ("octocat/app", "Octo-Org/lib"))
    assert [method for method, _ in github.calls[before:]] == ["DELETE"] * 4


async def test_a_repository_is_deleted_even_when_github_refuses_to_remove_its_trigger(
    world: World, owner_browser: Visitor, github: GitHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting a trigger alone is refused then (it stays, the error says why); deleting its
    repository is not: the log says what is left at GitHub to remove by hand."""
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    body = {"config": {"build_source": "octocat/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    github.failing_deletes = True
    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 400
    settings = f"/repository/{REPO}?tab=settings"
    r = await owner_browser.submit(settings, f"/repository/{REPO}/settings/delete", confirm=REPO)
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    assert (await http.get(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 404
    assert len(github.keys["octocat/app"]) == 1 and len(github.hooks["octocat/app"]) == 1
    assert f"build trigger {uuid} deleted without reaching GitHub" in caplog.text
    assert "remove its deploy key and webhook from octocat/app by hand" in caplog.text


async def test_deleting_the_organization_removes_its_repositories_triggers_at_github(
    world: World, owner_browser: Visitor, github: GitHub
) -> None:
    """Its repositories go with it, and their triggers as a repository's deletion takes them
    (a user's deletion the same way: services/accounts.delete_user)."""
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    body = {"config": {"build_source": "octocat/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    assert len(github.keys["octocat/app"]) == 1 and len(github.hooks["octocat/app"]) == 1
    assert (await http.delete("/api/v1/organization/acme", headers=owner)).status_code == 204
    assert github.keys["octocat/app"] == {} and github.hooks["octocat/app"] == {}


async def test_a_trigger_deleted_with_github_builds_off_says_what_stays_at_github(
    world: World, owner_browser: Visitor, github: GitHub, caplog: pytest.LogCaptureFixture
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    body = {"config": {"build_source": "octocat/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    rt = world.reg.wharf.rt
    rt.settings = rt.settings.model_copy(update={"FEATURE_GITHUB_BUILD": False})
    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert len(github.keys["octocat/app"]) == 1 and len(github.hooks["octocat/app"]) == 1
    assert "(its OAuth application is not configured here): remove its deploy key" in caplog.text

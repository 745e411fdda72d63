"""GitLab build triggers connected through Wharf's OAuth application (GITLAB_TRIGGER_CONFIG with
FEATURE_GITLAB_BUILD), against a real local GitLab (tests/gitlab_server.py) through the outbound
guard: connect from the web UI (GitLab's redirects followed by hand, to the one registered
callback), the wizard's helpers through /api/v1, activation adding the deploy key and the push
webhook at GitLab, a push GitLab delivers queuing a build, a manual start by tag, deletion removing
the key and the webhook; an expired token renewed; pages followed; and the web wizard."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import TEST_HOSTNAME
from tests.gitlab_server import GitLab, running_gitlab
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
def gitlab() -> Iterator[GitLab]:
    with running_gitlab() as g:
        yield g


@pytest.fixture
def settings(
    data_dir: Path, db_uri: str | None, storage_config: dict[str, object], gitlab: GitLab
) -> Settings:
    gitlab.reset()
    gitlab.add_project(
        "tanuki/app",
        {"main": MAIN, "dev": DEV},
        ["Dockerfile", "sub/web.Dockerfile", "README.md"],
        {"v1": V1},
    )
    gitlab.add_project("Tanuki-Group/lib", {"trunk": "4" * 40}, ["Dockerfile"])
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the stand-in listens on loopback
        "FEATURE_GITLAB_BUILD": True,
        "GITLAB_TRIGGER_CONFIG": {
            "GITLAB_ENDPOINT": gitlab.url,
            "CLIENT_ID": gitlab.client_id,
            "CLIENT_SECRET": gitlab.client_secret,
            "DEBUGGING": True,  # the stand-in speaks plain http
        },
        **storage_config,
    }
    found = load_settings(None, overrides, environ={})
    gitlab.redirect_uri = found.public_origin + "/oauth2/gitlab/callback/trigger"
    return found


@pytest.fixture
async def owner_browser(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def connect(browser: Visitor) -> str:
    """Press "Connect to GitLab", approve at GitLab, come back: the new trigger's uuid."""
    page = f"/repository/{REPO}/triggers"
    r = await browser.submit(page, f"{page}/gitlab")
    assert r.status_code == 200, r.text
    found = re.search(r'<a href="([^"]+)" id="continue"', r.text)
    assert found is not None, r.text
    async with httpx.AsyncClient(follow_redirects=False) as at_gitlab:
        r = await at_gitlab.get(found[1].replace("&amp;", "&"))
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.path == "/oauth2/gitlab/callback/trigger"
    r = await browser.get(f"{back.path}?{back.query}")
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[-1]


def _push_payload() -> bytes:
    return json.dumps(
        {
            "object_kind": "push",
            "ref": "refs/heads/main",
            "checkout_sha": MAIN,
            "user_username": "tanuki",
            "project": {"default_branch": "main"},
            "repository": {"git_ssh_url": "git@127.0.0.1:tanuki/app.git"},
            "commits": [{"id": MAIN, "message": "change", "timestamp": "2026-12-07T10:00:00Z"}],
        }
    ).encode()


async def deliver(http: httpx.AsyncClient, hook: dict[str, Any], body: bytes) -> httpx.Response:
    """What GitLab does with a push: POST to the hook's URL with its secret token."""
    url = urlsplit(hook["url"])
    headers = {
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": hook["token"],
        "Content-Type": "application/json",
    }
    return await http.post(
        url.path, content=body, headers=headers, auth=(url.username or "", url.password or "")
    )


async def test_connect_browse_activate_push_and_delete(
    world: World, owner_browser: Visitor, gitlab: GitLab
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    uuid = await connect(owner_browser)
    assert gitlab.scopes[-1].split() == ["api"]
    r = await http.get(f"{TRIGGERS}{uuid}", headers=owner)
    assert r.json()["service"] == "gitlab" and r.json()["is_active"] is False

    r = await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=owner)
    assert r.status_code == 200, r.text
    spaces = {n["title"]: n for n in r.json()["namespaces"]}
    assert spaces["Tanuki"]["personal"] is True and spaces["Tanuki-Group"]["personal"] is False
    r = await http.post(
        f"{TRIGGERS}{uuid}/sources", json={"namespace": spaces["Tanuki"]["id"]}, headers=owner
    )
    (source,) = r.json()["sources"]
    assert source["full_name"] == "tanuki/app" and source["private"] is True
    assert source["has_admin_permissions"] is True and source["last_updated"] > 0
    group = spaces["Tanuki-Group"]["id"]
    r = await http.post(f"{TRIGGERS}{uuid}/sources", json={"namespace": group}, headers=owner)
    assert [s["full_name"] for s in r.json()["sources"]] == ["Tanuki-Group/lib"]
    r = await http.post(f"{TRIGGERS}{uuid}/subdir", json={"build_source": "tanuki/app"}, headers=owner)
    assert r.json()["dockerfile_paths"] == ["/Dockerfile", "/sub/web.Dockerfile"], r.text
    # Another admin may not read GitLab with the owner's token.
    assert (await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=world.api["admin"])).status_code == 403

    body = {"config": {"build_source": "tanuki/app", "dockerfile_path": "/sub/web.Dockerfile"}}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["repository_url"] == f"{gitlab.url}/tanuki/app"
    assert (
        view["config"]["git_url"] == "git@127.0.0.1:tanuki/app.git"
        and view["config"]["default_branch"] == "main"
    )
    ((key_id, key),) = gitlab.keys["tanuki/app"].items()
    ((hook_id, hook),) = gitlab.hooks["tanuki/app"].items()
    assert view["config"]["key_id"] == key_id and view["config"]["hook_id"] == hook_id
    creds = {c["name"]: c["value"] for c in view["config"]["credentials"]}
    assert key["key"] == creds["SSH Public Key"] and key["can_push"] is False
    assert hook["url"] == creds["Webhook Endpoint URL"] and hook["push_events"] and hook["tag_push_events"]

    r = await http.post(f"{TRIGGERS}{uuid}/fields/refs", headers=owner)
    assert r.json()["values"] == [
        {"kind": "branch", "name": "main"},
        {"kind": "branch", "name": "dev"},
        {"kind": "tag", "name": "v1"},
    ]
    r = await deliver(http, hook, _push_payload())
    assert r.status_code == 200, r.text
    r = await http.get(f"{TRIGGERS}{uuid}/builds", headers=owner)
    (build,) = r.json()["builds"]
    assert build["trigger_metadata"]["commit"] == MAIN
    assert build["trigger_metadata"]["git_url"] == "git@127.0.0.1:tanuki/app.git"
    # A wrong token is refused.
    assert (await deliver(http, {**hook, "token": "nope"}, _push_payload())).status_code == 403

    # A manual start by tag: GitLab says which commit it points at.
    r = await http.post(
        f"{TRIGGERS}{uuid}/start", json={"refs": {"kind": "tag", "name": "v1"}}, headers=owner
    )
    assert r.status_code == 201, r.text
    assert r.json()["trigger_metadata"]["commit"] == V1

    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert gitlab.keys["tanuki/app"] == {} and gitlab.hooks["tanuki/app"] == {}
    assert ("DELETE", f"/api/v4/projects/tanuki%2Fapp/hooks/{hook_id}") in gitlab.calls
    assert (await deliver(http, hook, _push_payload())).status_code == 404


async def test_an_expired_token_is_renewed_and_kept(
    world: World, owner_browser: Visitor, gitlab: GitLab
) -> None:
    """GitLab's tokens expire: Wharf renews one with the refresh token and keeps the new grant
    (the next renewal needs the new refresh token: the old one is spent)."""
    http, owner = world.reg.http, world.api["owner"]
    gitlab.token_lifetime = 0
    uuid = await connect(owner_browser)
    first = set(gitlab.refresh_tokens)
    body = {"config": {"build_source": "tanuki/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    r = await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=owner)
    assert r.status_code == 200, r.text
    assert gitlab.refresh_tokens and not gitlab.refresh_tokens & first
    # A grant GitLab no longer honours is an error that says so, not a crash; the trigger can
    # still be deleted (its key and hook, if any, stay at GitLab).
    gitlab.refresh_tokens.clear()
    r = await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=owner)
    assert r.status_code == 400 and "did not give a token" in r.text
    assert (await http.delete(f"{TRIGGERS}{uuid}", headers=owner)).status_code == 204
    assert len(gitlab.keys["tanuki/app"]) == 1 and len(gitlab.hooks["tanuki/app"]) == 1


async def test_refusals_and_the_wizard_across_pages(
    world: World, owner_browser: Visitor, gitlab: GitLab
) -> None:
    """Refusals leave nothing at GitLab; the web wizard lists the user's projects across
    namespaces and GitLab's pages, and activating one there installs the key and the hook."""
    http, owner = world.reg.http, world.api["owner"]
    gitlab.add_project("Tanuki-Group/tool", {"main": "5" * 40}, ["Dockerfile"])
    uuid = await connect(owner_browser)
    body: dict[str, Any] = {"config": {"build_source": "tanuki/missing"}}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)
    assert r.status_code == 400 and "Unable to find GitLab repository" in r.text
    body = {"config": {"build_source": "git@elsewhere:x.git"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 400
    assert gitlab.keys["tanuki/app"] == {} and gitlab.hooks["tanuki/app"] == {}
    # GitLab's callback with a state this registry did not make is refused, and creates nothing.
    r = await owner_browser.get("/oauth2/gitlab/callback/trigger?code=x&state=forged")
    assert r.status_code == 403
    assert len((await http.get(TRIGGERS, headers=owner)).json()["triggers"]) == 1

    gitlab.page_size = 1
    page = f"/repository/{REPO}/trigger/{uuid}"
    r = await owner_browser.get(page)
    assert r.status_code == 200, r.text
    assert "Choose the GitLab repository" in r.text
    for name in ("tanuki/app", "Tanuki-Group/lib", "Tanuki-Group/tool"):
        assert f"<option>{name}</option>" in r.text
    r = await owner_browser.submit(page, f"{page}/activate", build_source="Tanuki-Group/tool")
    assert r.status_code == 303 and r.headers["location"] == page, r.text
    assert len(gitlab.keys["Tanuki-Group/tool"]) == 1 and len(gitlab.hooks["Tanuki-Group/tool"]) == 1
    r = await owner_browser.submit(page, f"{page}/delete")
    assert r.status_code == 303
    assert gitlab.keys["Tanuki-Group/tool"] == {} and gitlab.hooks["Tanuki-Group/tool"] == {}


async def test_the_analyzer_reads_the_dockerfile_through_gitlab(
    world: World, owner_browser: Visitor, gitlab: GitLab
) -> None:
    """analyzeBuildTrigger reads the Dockerfile with GitLab's files API on the default branch,
    renewing the expired token first, at most 1 MiB of it; only the connecting user may check
    another project."""
    http, owner = world.reg.http, world.api["owner"]
    gitlab.token_lifetime = 0
    gitlab.contents["tanuki/app"] = {
        "Dockerfile": b"FROM alpine:3\n",
        "sub/web.Dockerfile": f"FROM {TEST_HOSTNAME}/acme/app:base\n".encode(),
        "README.md": b"#" * (1024 * 1024 + 1),
    }
    uuid = await connect(owner_browser)
    config = {"build_source": "tanuki/app", "dockerfile_path": "/sub/web.Dockerfile"}
    analyzed = (await http.post(f"{TRIGGERS}{uuid}/analyze", json={"config": config}, headers=owner)).json()
    assert (analyzed["status"], analyzed["namespace"], analyzed["name"]) == ("requiresrobot", "acme", "app")
    assert ("GET", "/api/v4/projects/tanuki%2Fapp/repository/files/sub%2Fweb.Dockerfile/raw") in gitlab.calls
    public = {"config": {**config, "dockerfile_path": "/Dockerfile"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=public, headers=owner)
    assert r.json()["status"] == "publicbase", r.text
    missing = {"config": {**config, "dockerfile_path": "/nope/Dockerfile"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=missing, headers=owner)
    assert r.json()["status"] == "warning" and "not found" in r.json()["message"], r.text
    # A file over the cap (1 MiB) is not read whole.
    big = {"config": {**config, "dockerfile_path": "/README.md"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=big, headers=owner)
    assert r.json()["status"] == "error" and "larger than" in r.json()["message"], r.text
    other = {"config": {**config, "build_source": "Tanuki-Group/lib"}}
    r = await http.post(f"{TRIGGERS}{uuid}/analyze", json=other, headers=world.api["admin"])
    assert r.status_code == 403, r.text


async def test_deleting_the_repository_removes_its_triggers_key_and_webhook_at_gitlab(
    world: World, owner_browser: Visitor, gitlab: GitLab
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    gitlab.token_lifetime = 0  # the deletion renews the grant first
    uuid = await connect(owner_browser)
    body = {"config": {"build_source": "tanuki/app"}}
    assert (await http.post(f"{TRIGGERS}{uuid}/activate", json=body, headers=owner)).status_code == 200
    assert len(gitlab.keys["tanuki/app"]) == 1 and len(gitlab.hooks["tanuki/app"]) == 1
    assert (await http.delete(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 204
    assert gitlab.keys["tanuki/app"] == {} and gitlab.hooks["tanuki/app"] == {}
    assert (await http.get(f"/api/v1/repository/{REPO}", headers=owner)).status_code == 404

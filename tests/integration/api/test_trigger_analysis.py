"""analyzeBuildTrigger on a custom git trigger: the Dockerfile read by a shallow fetch from a real
git server (`git http-backend` on loopback, tests/git_http_server.py), its base image looked up
in this registry, and Quay's answers: `requiresrobot` with the namespace's robots and which can
read the base, `publicbase`, `error` for a base not found or a Dockerfile outside its context,
`warning` for a missing Dockerfile, an unknown base or an unreadable server; and the web form's
"Check the Dockerfile", which proposes the robot. (GitHub triggers: test_github_triggers.py.)"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_HOSTNAME
from tests.git_http_server import running_git_http
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.config import Settings, load_settings

TRIGGERS = "/api/v1/repository/acme/app/trigger/"
FILES = {
    "private/Dockerfile": f"ARG BASE={TEST_HOSTNAME}/acme/app:base\nFROM ${{BASE}} AS build\n"
    "FROM scratch\nCOPY --from=build /out /\n",
    "public/Dockerfile": f"FROM {TEST_HOSTNAME}/acme/pub:1\n",
    "hub/Dockerfile": "FROM docker.io/library/alpine:3.20\n",
    "gone/Dockerfile": f"FROM {TEST_HOSTNAME}/acme/nothere\n",
    "arg/Dockerfile": "ARG IMAGE\nFROM $IMAGE\n",
    "empty/Dockerfile": "# nothing yet\n",
}


def _git(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ann",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "Ann",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def git_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a repository whose one commit on `main` holds FILES."""
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    for path, text in FILES.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "files", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(root / "app.git"), cwd=root)
    with running_git_http(root) as url:
        yield f"{url}/app.git"


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, storage_config: dict[str, object]) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the git server listens on loopback
        **storage_config,
    }
    return load_settings(None, overrides, environ={})


async def _analyze(world: World, uuid: str, user: str = "owner", **config: Any) -> dict[str, Any]:
    r = await world.reg.http.post(
        f"{TRIGGERS}{uuid}/analyze", json={"config": config}, headers=world.api[user]
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_the_analyzer_reads_the_dockerfile_and_judges_its_base(world: World, git_url: str) -> None:
    http, owner = world.reg.http, world.api["owner"]
    for robot in ("builder", "other"):
        r = await http.put(f"/api/v1/organization/acme/robots/{robot}", json={}, headers=owner)
        assert r.status_code in (200, 201), r.text
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+builder", json={"role": "read"}, headers=owner
    )
    assert r.status_code == 200, r.text
    uuid = (await http.post(TRIGGERS, json={"service": "custom-git"}, headers=owner)).json()["id"]

    # The last stage is scratch: the base is the earlier stage's, named by a global ARG.
    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/private/Dockerfile")
    assert found == {
        "namespace": "acme",
        "name": "app",
        "robots": [
            {"name": "acme+builder", "kind": "user", "is_robot": True, "can_read": True},
            {"name": "acme+other", "kind": "user", "is_robot": True, "can_read": False},
        ],
        "status": "requiresrobot",
        "message": None,
        "is_admin": True,
    }
    # An admin of the repository who does not administer the organization sees no robots.
    found = await _analyze(world, uuid, "direct", build_source=git_url, dockerfile_path="/private/Dockerfile")
    assert (found["status"], found["robots"], found["is_admin"]) == ("requiresrobot", [], False)

    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/public/Dockerfile")
    assert (found["status"], found["namespace"], found["name"]) == ("publicbase", "acme", "pub")
    assert [r["can_read"] for r in found["robots"]] == [False, False]  # public, not granted
    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/hub/Dockerfile")
    assert (found["status"], found["namespace"], found["name"]) == ("publicbase", "acme", None)

    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/gone/Dockerfile")
    assert found["status"] == "error"
    assert (
        found["message"]
        == f'Repository "{TEST_HOSTNAME}/acme/nothere" referenced by the Dockerfile was not found'
    )
    found = await _analyze(
        world, uuid, build_source=git_url, dockerfile_path="/hub/Dockerfile", context="/public"
    )
    assert (found["status"], found["message"]) == (
        "error",
        "Dockerfile, /hub/Dockerfile, is not a child of the context, /public.",
    )

    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/arg/Dockerfile")
    assert found["status"] == "warning" and "$IMAGE names a build argument" in found["message"]
    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/empty/Dockerfile")
    assert (found["status"], found["message"]) == ("warning", "No FROM line found in the Dockerfile")
    found = await _analyze(world, uuid, build_source=git_url, dockerfile_path="/none/Dockerfile")
    assert found["status"] == "warning" and found["message"].startswith("Specified Dockerfile path")
    found = await _analyze(
        world, uuid, build_source=git_url, dockerfile_path="/hub/Dockerfile", default_branch="dev"
    )
    assert found["status"] == "warning" and "git fetch" in found["message"]
    assert "deploy key" in found["message"]  # not activated yet: the server may want the key

    found = await _analyze(world, uuid, build_source="file:///etc", dockerfile_path="/Dockerfile")
    assert found["status"] == "error" and found["message"].startswith("build_source")


async def test_the_set_up_form_checks_the_dockerfile_and_proposes_a_robot(
    wharf: WharfApp, world: World, git_url: str
) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put("/api/v1/organization/acme/robots/builder", json={}, headers=owner)
    assert r.status_code in (200, 201), r.text
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+builder", json={"role": "read"}, headers=owner
    )
    assert r.status_code == 200, r.text
    browser = Visitor(wharf)
    try:
        await browser.sign_in("owner", PW)
        page = "/repository/acme/app/triggers"
        fields = {"build_source": git_url, "dockerfile_path": "/private/Dockerfile", "pull_robot": ""}
        # "Check the Dockerfile" posts the set-up form to its own formaction
        form = await browser.form(page, f"{page}/new")
        r = await browser.http.post(f"{page}/analyze", data={**form.fields, **fields})
        assert r.status_code == 200, r.text
        assert 'data-analysis="requiresrobot"' in r.text
        assert "<code>acme/app</code>, a private repository" in r.text
        assert 'value="acme+builder"' in r.text  # proposed in the robot field
        assert f'value="{git_url}"' in r.text  # what was typed is kept
        # nothing was set up by checking
        assert (await http.get(TRIGGERS, headers=owner)).json()["triggers"] == []
    finally:
        await browser.close()

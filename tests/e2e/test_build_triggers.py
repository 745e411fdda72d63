"""A real build from a git push: a git repository served over HTTP by `git http-backend` (run by
the test as CGI on a loopback port), a custom-git trigger pointing at it, the push webhook a
post-receive hook would send, and a `wharf builder` cloning the commit, building its
subdirectory's Dockerfile and pushing the tags the trigger's templates make.

The same over SSH: a real `sshd` on a loopback port (tests/ssh_server.py) to which the test adds
the deploy key the trigger shows, as a user would on their git server (skipped without
openssh-server)."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import SERVER_KIND, Clients, Server, Worker, admin_api, require_tools
from tests.git_http_server import running_git_http
from tests.ssh_server import SshServer, ssh_server
from tests.waiting import wait_until

require_tools("buildah", "skopeo", "git")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(SERVER_KIND != "wharf", reason="builds are Wharf's, not distribution's"),
]

LOOPBACK = {"WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.1"]'}
TERMINAL = {"complete", "error", "internalerror", "cancelled", "expired"}


@pytest.fixture
def server_settings() -> dict[str, str]:
    return LOOPBACK


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ann",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "Ann",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(the base URL of an HTTP git server, the directory of its bare repositories)."""
    root = tmp_path / "git"
    root.mkdir()
    with running_git_http(root) as url:
        yield url, root


@pytest.fixture
def builder(server: Server) -> Iterator[Worker]:
    env = {"WHARF_BUILDER_REGISTRY": server.url, **LOOPBACK}
    proc = Worker(server.workdir, server.db_uri, env, name="builder", command="builder")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        print(f"--- builder log ---\n{proc.log_tail()}")


def _status(api: httpx.Client, repo: str, build_id: str) -> dict[str, object]:
    r = api.get(f"/repository/{repo}/build/{build_id}/status")
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("transport", ["http", "ssh"])
def test_a_push_webhook_builds_the_commit_from_git(
    server: Server,
    builder: Worker,
    clients: Clients,
    images: BuiltImages,
    tmp_path: Path,
    transport: str,
    request: pytest.FixtureRequest,
) -> None:
    """Over http from `git http-backend`; over ssh from a real sshd (tests/ssh_server.py) that
    knows the trigger's deploy key once the test gives it the public key the trigger shows."""
    with contextlib.ExitStack() as stack:
        if transport == "ssh":
            sshd: SshServer | None = stack.enter_context(ssh_server(tmp_path / "sshd"))
            root = tmp_path / "git"
            root.mkdir()
        else:
            sshd = None
            url, root = request.getfixturevalue("git_server")
        source = sshd.url(root / "app.git") if sshd else f"{url}/app.git"
        _build_from_a_push(server, clients, images, tmp_path, root, source, sshd)


def _build_from_a_push(
    server: Server,
    clients: Clients,
    images: BuiltImages,
    tmp_path: Path,
    root: Path,
    source: str,
    sshd: SshServer | None,
) -> None:
    base = f"{server.host}/admin/base:latest"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        str(server.creds),
        images.busybox_oci,
        f"docker://{base}",
    )
    work = tmp_path / "checkout"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "app").mkdir()
    (work / "app" / "Dockerfile").write_text(f"FROM {base}\nCOPY hello.txt /hello.txt\n")
    (work / "app" / "hello.txt").write_text("from git\n")
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "first", cwd=work)
    commit = _git("rev-parse", "HEAD", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(root / "app.git"))

    with admin_api(server) as api:
        created = {"namespace": "admin", "repository": "fromgit", "visibility": "private", "description": ""}
        assert api.post("/repository", json=created).status_code == 201
        trigger = api.post("/repository/admin/fromgit/trigger/", json={"service": "custom-git"}).json()
        config = {
            "build_source": source,
            "dockerfile_path": "/app/Dockerfile",
            "tag_templates": ["${commit_info.short_sha}"],
        }
        r = api.post(f"/repository/admin/fromgit/trigger/{trigger['id']}/activate", json={"config": config})
        assert r.status_code == 200, r.text
        creds = {c["name"]: c["value"] for c in r.json()["config"]["credentials"]}
        if sshd is not None:
            sshd.authorize(creds["SSH Public Key"])
        hook = urlsplit(creds["Webhook Endpoint URL"])
        auth = base64.b64encode(f"{hook.username}:{hook.password}".encode()).decode()
        payload = {
            "commit": commit,
            "ref": "refs/heads/main",
            "default_branch": "main",
            "commit_info": {"url": "", "message": "first", "date": "", "author": {"username": "ann"}},
        }
        r = httpx.post(
            f"{server.url}{hook.path}", json=payload, headers={"Authorization": f"Basic {auth}"}, timeout=30
        )
        assert r.status_code == 200, r.text
        builds = api.get(f"/repository/admin/fromgit/trigger/{trigger['id']}/builds").json()["builds"]
        assert len(builds) == 1
        build_id = builds[0]["id"]
        wait_until(
            lambda: _status(api, "admin/fromgit", build_id)["phase"] in TERMINAL,
            "the trigger's build to finish",
            timeout_s=300,
        )
        done = _status(api, "admin/fromgit", build_id)
        log = api.get(f"/repository/admin/fromgit/build/{build_id}/logs").json()["logs"]
        messages = "\n".join(e["message"] for e in log)
        assert done["phase"] == "complete", messages
        assert f"git checkout {commit}" in messages
        assert f"git fetch {source} refs/heads/main" in messages
        for tag in ("main", "latest", commit[:7]):
            digest = clients.skopeo_digest(f"docker://{server.host}/admin/fromgit:{tag}", server.creds)
            assert digest == done["manifest_digest"]

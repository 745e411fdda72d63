"""podman and skopeo log in with each credential kind Wharf accepts, and push/pull what it allows.

The kinds: a user's password; a robot `owner+name` with its token; `$app` with an app-specific
token; `$oauthtoken` with an OAuth access token, whose scopes cap what the login may do. One
server and one organization serve the whole module (a server start costs seconds):

    e2ecreds/alpha   alice: write
    e2ecreds/beta    alice: read, robot e2ecreds+reader: read
    e2ecreds/gamma   nobody but the admin (and its organization)

The admin seeds each repository with busybox as v1. Pushes send other images (skopeo the
multi-layer one, podman the amd64 image of the multi-arch one), so an allowed push really uploads
blobs and a refused one is refused at its first write. Allowed copies are checked by digest; a
refused one must fail in the client with the registry's error on stderr. The server slows logins
down once more than 3 have failed from one address, so the module makes exactly two fail.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_database
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import CLIENT_TOOLS, SERVER_KIND, WHARF, Clients, Server, require_tools
from tests.oidc_issuer import Issuer, running_issuer

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip(
        "credential kinds are Wharf's (the reference registry has no accounts)", allow_module_level=True
    )

pytestmark = pytest.mark.e2e

ORG = "e2ecreds"
USER = "alice"
ROBOT_SHORT = "reader"
ROBOT = f"{ORG}+{ROBOT_SHORT}"
TLS = "--tls-verify=false"

# How the clients show a refusal: the message of the registry's 401 UNAUTHORIZED error (a new
# token did not help), or, when the refused request was a HEAD (the blob check before an upload)
# and had no body, what containers/image says for a 401 there.
DENIED = (
    "access to the requested resource is not authorized",
    "requested access to the resource is denied",
    "401 (unauthorized)",
)
# How they show a 401 from the token endpoint at login.
BAD_LOGIN = ("invalid username/password",)


@dataclass(frozen=True)
class Registry:
    """The module's server, its secrets, and a podman store holding the image podman pushes."""

    server: Server
    clients: Clients
    images: BuiltImages
    podman_image: str  # image ID in the podman store: the linux/amd64 instance of the multi-arch index
    seeded_digest: str  # busybox, pushed as v1 into alpha, beta and gamma by the admin
    layers_digest: str  # the multi-layer image skopeo pushes
    password: str
    robot_token: str
    admin_token: str
    app_token: str
    read_token: str  # OAuth, repo:read only
    user_admin_token: str  # OAuth, user:admin only: no repository scope at all

    def ref(self, repo: str, tag: str = "v1", namespace: str = ORG) -> str:
        return f"docker://{self.server.host}/{namespace}/{repo}:{tag}"


@pytest.fixture(scope="module")
def module_db_uri() -> Iterator[str | None]:
    """The `db_uri` fixture for a whole module: one server serves every test here."""
    with fresh_database() as uri:
        yield uri


def _background(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{proc.args!r} exited {proc.returncode}:\n{err}"
    return out.strip()


def _mint(server: Server, user: str, *scopes: str) -> subprocess.Popen[str]:
    """`wharf admin token` on the server's data dir, started in the background: an OAuth token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    if server.db_uri:
        env["WHARF_DB_URI"] = server.db_uri
    scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
    return _background(
        [str(WHARF), "admin", "token", user, *scope_args, "--data-dir", str(server.data_dir)], env
    )


def _api(server: Server, method: str, path: str, token: str, body: object) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.url}/api/v1{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, module_db_uri: str | None, images: BuiltImages
) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("credential-kinds")
    # the test's OIDC issuer listens on loopback, which outbound calls refuse unless allowed
    allow_loopback = {"WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.0/8"]'}
    server = Server(workdir / "server", db_uri=module_db_uri, settings_env=allow_loopback)
    server.workdir.mkdir(parents=True)
    server.start()
    try:
        yield _populate(server, Clients(workdir / "clients"), images)
    finally:
        server.stop()
        # shown by pytest only when a test failed
        print(f"--- wharf log ({server.log_path}) ---\n{server.log_tail()}")


def _populate(server: Server, clients: Clients, images: BuiltImages) -> Registry:
    """Organization, user, robot, grants and tokens, through /api/v1 as the admin and as alice."""
    clients.allow(server.host)
    # podman loads its image while the API calls run
    load = _background(["podman", "pull", "-q", "--platform", "linux/amd64", images.multi_oci], clients.env)

    admin = _finish(_mint(server, "admin"))
    r = _api(server, "POST", "/organization/", admin, {"name": ORG, "email": f"{ORG}@example.com"})
    assert r.status_code == 201, r.text
    r = _api(server, "POST", "/superuser/users/", admin, {"username": USER, "email": f"{USER}@example.com"})
    assert r.status_code == 200, r.text
    password = r.json()["password"]
    # alice's tokens are minted while the admin pushes (each CLI run takes a second or two)
    minting = _mint(server, USER, "user:admin"), _mint(server, USER, "repo:read")

    # pushing creates a repository, and roles are given on existing ones only
    for repo in ("alpha", "beta", "gamma"):
        clients.run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"{server.creds}",
            images.busybox_oci,
            f"docker://{server.host}/{ORG}/{repo}:v1",
        )
    seeded_digest = clients.skopeo_digest(images.busybox_oci)
    for repo in ("alpha", "beta", "gamma"):
        assert clients.skopeo_digest(f"docker://{server.host}/{ORG}/{repo}:v1", server.creds) == seeded_digest

    r = _api(server, "PUT", f"/organization/{ORG}/robots/{ROBOT_SHORT}", admin, {"description": "e2e"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == ROBOT
    robot_token = r.json()["token"]
    for repo, account, role in (("alpha", USER, "write"), ("beta", USER, "read"), ("beta", ROBOT, "read")):
        r = _api(server, "PUT", f"/repository/{ORG}/{repo}/permissions/user/{account}", admin, {"role": role})
        assert r.status_code == 200, r.text
        assert r.json()["role"] == role

    user_admin_token, read_token = (_finish(proc) for proc in minting)
    r = _api(server, "POST", "/user/apptoken", user_admin_token, {"title": "e2e laptop"})
    assert r.status_code == 200, r.text
    app_token = r.json()["token"]["token_code"]

    return Registry(
        server=server,
        clients=clients,
        images=images,
        podman_image=_finish(load).splitlines()[-1],
        seeded_digest=seeded_digest,
        layers_digest=clients.skopeo_digest(images.layers_oci),
        password=password,
        robot_token=robot_token,
        admin_token=admin,
        app_token=app_token,
        read_token=read_token,
        user_admin_token=user_admin_token,
    )


# --- what the clients do ------------------------------------------------------------------------


def _login(reg: Registry, tool: str, auth_file: Path, username: str, secret: str) -> None:
    """`podman login` or `skopeo login`, secret on stdin; the auth file then holds the registry."""
    reg.clients.run(
        tool,
        "login",
        TLS,
        "--authfile",
        str(auth_file),
        "-u",
        username,
        "--password-stdin",
        reg.server.host,
        stdin=secret + "\n",
    )
    assert reg.server.host in json.loads(auth_file.read_text())["auths"]


def _logins(reg: Registry, tmp_path: Path, username: str, secret: str) -> tuple[Path, Path]:
    """Both clients log in, each into an auth file of its own: (podman's, skopeo's)."""
    podman_auth, skopeo_auth = tmp_path / "podman-auth.json", tmp_path / "skopeo-auth.json"
    _login(reg, "podman", podman_auth, username, secret)
    _login(reg, "skopeo", skopeo_auth, username, secret)
    return podman_auth, skopeo_auth


def _assert_refused(proc: subprocess.CompletedProcess[str], markers: tuple[str, ...]) -> None:
    assert proc.returncode != 0, f"{proc.args} succeeded:\n{proc.stdout}\n{proc.stderr}"
    stderr = proc.stderr.lower()
    assert any(m in stderr for m in markers), f"{proc.args}: none of {markers} in:\n{proc.stderr}"


def _skopeo_push(reg: Registry, auth: Path, dest: str, *, allowed: bool) -> None:
    """skopeo copies the multi-layer image to `dest`; when allowed, all its layers are there."""
    proc = reg.clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-authfile",
        str(auth),
        reg.images.layers_oci,
        dest,
        check=allowed,
    )
    if not allowed:
        _assert_refused(proc, DENIED)
        return
    raw = reg.clients.run("skopeo", "inspect", "--raw", TLS, "--authfile", str(auth), dest).stdout
    assert json.loads(raw)["layers"] == json.loads(reg.clients.skopeo_raw(reg.images.layers_oci))["layers"]


def _skopeo_pull(reg: Registry, auth: Path, src: str, out: Path, *, expect: str | None) -> None:
    """`src` into an OCI layout, arriving with digest `expect`; None: the pull must be refused."""
    proc = reg.clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        "--src-authfile",
        str(auth),
        src,
        f"oci:{out}:x",
        check=expect is not None,
    )
    if expect is None:
        _assert_refused(proc, DENIED)
    else:
        assert reg.clients.skopeo_digest(f"oci:{out}:x") == expect


def _podman_push(reg: Registry, auth: Path, dest: str, *, allowed: bool) -> str | None:
    """podman pushes its image to `dest`: the manifest digest when allowed, None when refused."""
    digest_file = auth.with_suffix(".digest")
    digest_file.unlink(missing_ok=True)
    proc = reg.clients.run(
        "podman",
        "push",
        TLS,
        "--authfile",
        str(auth),
        "--digestfile",
        str(digest_file),
        reg.podman_image,
        dest,
        check=allowed,
    )
    if not allowed:
        _assert_refused(proc, DENIED)
        return None
    digest = digest_file.read_text().strip()
    assert digest.startswith("sha256:"), digest
    return digest


def _podman_pull(reg: Registry, auth: Path, src: str, *, expect: str | None) -> None:
    """`src` into podman's store, arriving with digest `expect`; None: the pull must be refused."""
    ref = src.removeprefix("docker://")
    proc = reg.clients.run(
        "podman", "pull", "-q", TLS, "--authfile", str(auth), ref, check=expect is not None
    )
    if expect is None:
        _assert_refused(proc, DENIED)
        return
    pulled = json.loads(reg.clients.run("podman", "image", "inspect", ref).stdout)[0]
    assert pulled["Digest"] == expect, pulled
    reg.clients.run("podman", "untag", ref)


# --- one test per credential kind -------------------------------------------------------------


def test_password_writes_alpha_reads_beta_and_nothing_more(registry: Registry, tmp_path: Path) -> None:
    reg = registry
    podman_auth, skopeo_auth = _logins(reg, tmp_path, USER, reg.password)

    _skopeo_push(reg, skopeo_auth, reg.ref("alpha", "by-password"), allowed=True)
    _skopeo_pull(
        reg, skopeo_auth, reg.ref("alpha", "by-password"), tmp_path / "back", expect=reg.layers_digest
    )
    _podman_pull(reg, podman_auth, reg.ref("beta"), expect=reg.seeded_digest)
    _podman_push(reg, podman_auth, reg.ref("beta", "by-password"), allowed=False)
    _skopeo_push(reg, skopeo_auth, reg.ref("beta", "by-password"), allowed=False)
    _skopeo_pull(reg, skopeo_auth, reg.ref("gamma"), tmp_path / "gamma", expect=None)
    _podman_push(reg, podman_auth, reg.ref("gamma", "by-password"), allowed=False)
    # the organization gave alice no right to create repositories in it
    _skopeo_push(reg, skopeo_auth, reg.ref("delta"), allowed=False)


def test_robot_token_reads_its_one_repository(registry: Registry, tmp_path: Path) -> None:
    reg = registry
    podman_auth, skopeo_auth = _logins(reg, tmp_path, ROBOT, reg.robot_token)

    _skopeo_pull(reg, skopeo_auth, reg.ref("beta"), tmp_path / "beta", expect=reg.seeded_digest)
    _podman_pull(reg, podman_auth, reg.ref("beta"), expect=reg.seeded_digest)
    _skopeo_push(reg, skopeo_auth, reg.ref("beta", "by-robot"), allowed=False)
    _podman_push(reg, podman_auth, reg.ref("beta", "by-robot"), allowed=False)
    _podman_pull(reg, podman_auth, reg.ref("alpha"), expect=None)
    _podman_push(reg, podman_auth, reg.ref("alpha", "by-robot"), allowed=False)


def test_app_token_acts_with_its_users_roles(registry: Registry, tmp_path: Path) -> None:
    reg = registry
    podman_auth, skopeo_auth = _logins(reg, tmp_path, "$app", reg.app_token)

    pushed = _podman_push(reg, podman_auth, reg.ref("alpha", "by-app"), allowed=True)
    assert pushed is not None
    _skopeo_pull(reg, skopeo_auth, reg.ref("alpha", "by-app"), tmp_path / "back", expect=pushed)
    _skopeo_pull(reg, skopeo_auth, reg.ref("beta"), tmp_path / "beta", expect=reg.seeded_digest)
    _skopeo_push(reg, skopeo_auth, reg.ref("beta", "by-app"), allowed=False)
    _podman_pull(reg, podman_auth, reg.ref("gamma"), expect=None)


def test_oauth_token_is_capped_by_its_scopes(registry: Registry, tmp_path: Path) -> None:
    reg = registry
    podman_auth, skopeo_auth = _logins(reg, tmp_path, "$oauthtoken", reg.read_token)

    # alice may write to alpha, but this token carries repo:read only
    _podman_pull(reg, podman_auth, reg.ref("alpha"), expect=reg.seeded_digest)
    _skopeo_pull(reg, skopeo_auth, reg.ref("alpha"), tmp_path / "alpha", expect=reg.seeded_digest)
    _podman_push(reg, podman_auth, reg.ref("alpha", "by-oauth"), allowed=False)
    _skopeo_push(reg, skopeo_auth, reg.ref("alpha", "by-oauth"), allowed=False)
    _skopeo_pull(reg, skopeo_auth, reg.ref("gamma"), tmp_path / "gamma", expect=None)
    # nor may it create a repository, even in alice's own namespace (no repo:create)
    _skopeo_push(reg, skopeo_auth, reg.ref("mine", namespace=USER), allowed=False)

    # a token with no repo: scope at all still logs in, and may not even pull
    no_repo_auth = tmp_path / "no-repo-auth.json"
    _login(reg, "skopeo", no_repo_auth, "$oauthtoken", reg.user_admin_token)
    _skopeo_pull(reg, no_repo_auth, reg.ref("alpha"), tmp_path / "no-repo", expect=None)


def test_wrong_secret_makes_login_fail(registry: Registry, tmp_path: Path) -> None:
    """Two failures only: a fourth one from 127.0.0.1 would make every later login wait."""
    reg = registry
    for tool, username, secret in (
        ("podman", USER, reg.password + "-wrong"),
        ("skopeo", "$app", reg.app_token[:-4] + "xxxx"),
    ):
        auth_file = tmp_path / f"{tool}-auth.json"
        proc = reg.clients.run(
            tool,
            "login",
            TLS,
            "--authfile",
            str(auth_file),
            "-u",
            username,
            "--password-stdin",
            reg.server.host,
            stdin=secret + "\n",
            check=False,
        )
        _assert_refused(proc, BAD_LOGIN)
        saved = json.loads(auth_file.read_text()) if auth_file.exists() else {}
        assert reg.server.host not in saved.get("auths", {})
    # and the right password still works right after
    _login(reg, "skopeo", tmp_path / "after-auth.json", USER, reg.password)


def test_federated_robot_logs_in_with_an_oidc_token(
    registry: Registry, issuer: Issuer, tmp_path: Path
) -> None:
    """Keyless: a CI job's OIDC identity, trusted by the robot, is traded for a robot token."""
    reg = registry
    subject = "repo:e2ecreds/beta:ref:refs/heads/main"
    r = _api(
        reg.server,
        "POST",
        f"/organization/{ORG}/robots/{ROBOT_SHORT}/federation",
        reg.admin_token,
        [{"issuer": issuer.url, "subject": subject}],
    )
    assert r.status_code == 200, r.text
    r = httpx.get(
        f"{reg.server.url}/oauth2/federation/robot/token", auth=(ROBOT, issuer.token(subject)), timeout=30
    )
    assert r.status_code == 200, r.text
    podman_auth, skopeo_auth = _logins(reg, tmp_path, ROBOT, r.json()["token"])

    _skopeo_pull(reg, skopeo_auth, reg.ref("beta"), tmp_path / "beta", expect=reg.seeded_digest)
    _podman_pull(reg, podman_auth, reg.ref("beta"), expect=reg.seeded_digest)
    _skopeo_push(reg, skopeo_auth, reg.ref("beta", "by-federation"), allowed=False)
    _podman_pull(reg, podman_auth, reg.ref("alpha"), expect=None)

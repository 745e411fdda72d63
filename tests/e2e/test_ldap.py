"""Directory users against a real `wharf serve` with AUTHENTICATION_TYPE: LDAP and a real slapd
(tests/ldap_server.py): podman logs in with a directory password and pushes into the user's
namespace, and is refused (an app token is not) while the directory cannot be reached; a user
removed from the directory mid-session can no longer log in, and the directory check job
(LDAP_USER_CHECK_INTERVAL_S, one second here) ends the registry token, app token, OAuth token and
session they held, as docs/identity.md promises; Chromium signs in with the sign-in form.

One directory and one server serve the module. LOGIN_CACHE_TTL_S is 0 so that the directory is
asked at every login, as it is once the cache's minute has passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests import ldap_server
from tests.conftest import fresh_database
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import CLIENT_TOOLS, SERVER_KIND, Clients, Server, require_tools, user_token
from tests.waiting import wait_until

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("directory sign-in is Wharf's", allow_module_level=True)
if not ldap_server.available():
    pytest.skip("slapd or python-ldap is not installed", allow_module_level=True)

pytestmark = pytest.mark.e2e

TLS = "--tls-verify=false"
PEOPLE: dict[str, tuple[str, str | None]] = {
    "carol": ("carol-directory-pw", "carol@example.org"),
    "dave": ("dave-directory-pw", "dave@example.org"),
    "erin": ("erin-directory-pw", "erin@example.org"),
}


@dataclass(frozen=True)
class Site:
    server: Server
    directory: ldap_server.LdapServer
    clients: Clients
    image_id: str  # busybox, in the podman store of `clients`


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, images: BuiltImages) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("ldap")
    directory = ldap_server.start_slapd(workdir / "slapd", PEOPLE)
    settings = directory.settings(LOGIN_CACHE_TTL_S=0, LDAP_USER_CHECK_INTERVAL_S=1)
    env = {f"WHARF_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}
    try:
        with fresh_database() as db_uri:
            server = Server(workdir / "server", db_uri=db_uri, settings_env=env)
            server.workdir.mkdir(parents=True)
            server.start()
            try:
                clients = Clients(workdir / "clients")
                clients.allow(server.host)
                pulled = clients.run("podman", "pull", "-q", images.busybox_oci).stdout
                yield Site(server, directory, clients, pulled.strip().splitlines()[-1])
            finally:
                server.stop()
                # shown by pytest only when a test failed
                print(f"--- wharf log ({server.log_path}) ---\n{server.log_tail()}")
    finally:
        directory.stop()


def _podman_login(site: Site, user: str, password: str) -> int:
    proc = site.clients.run(
        "podman",
        "login",
        TLS,
        "-u",
        user,
        "--password-stdin",
        site.server.host,
        stdin=password + "\n",
        check=False,
    )
    return proc.returncode


def test_podman_logs_in_with_the_directory_password_and_pushes(site: Site, tmp_path: Path) -> None:
    host = site.server.host
    assert _podman_login(site, "carol", "not-carols-password") != 0
    assert host not in json.loads(site.clients.auth_file.read_text()).get("auths", {})

    assert _podman_login(site, "carol", PEOPLE["carol"][0]) == 0
    ref = f"{host}/carol/from-podman:v1"
    site.clients.run("podman", "tag", site.image_id, ref)
    digest_file = tmp_path / "digest"
    site.clients.run("podman", "push", TLS, "--digestfile", str(digest_file), ref)
    pushed = digest_file.read_text().strip()
    # the first login made carol's account and namespace; another client sees the image there
    assert site.clients.skopeo_inspect(f"docker://{ref}", f"carol:{PEOPLE['carol'][0]}")["Digest"] == pushed
    site.clients.run("podman", "logout", host)

    # the directory unreachable: its password is refused and the server says why, while an app
    # token, which does not ask the directory, keeps working
    session = _session(site.server, "carol", PEOPLE["carol"][0])
    r = session.post("/api/v1/user/apptoken", json={"title": "e2e desktop"})
    assert r.status_code == 200, r.text
    app_token = r.json()["token"]["token_code"]
    session.close()
    site.directory.stop()
    try:
        assert _podman_login(site, "carol", PEOPLE["carol"][0]) != 0
        r = httpx.get(f"{site.server.url}/v2/auth", auth=("carol", PEOPLE["carol"][0]), timeout=30)
        assert r.status_code == 503, r.text
        assert "cannot be reached" in r.text
        assert _podman_login(site, "$app", app_token) == 0
        site.clients.run("podman", "pull", TLS, ref)
        site.clients.run("podman", "logout", host)
    finally:
        site.directory.start()


def _session(server: Server, user: str, password: str) -> httpx.Client:
    """An /api/v1 client signed in with a session cookie, carrying its CSRF token."""
    http = httpx.Client(base_url=server.url, timeout=30)
    csrf = http.get("/csrf_token").json()["csrf_token"]
    r = http.post(
        "/api/v1/signin", json={"username": user, "password": password}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    http.headers["X-CSRF-Token"] = http.get("/csrf_token").json()["csrf_token"]
    return http


def test_a_user_removed_from_the_directory_loses_logins_tokens_and_sessions(site: Site) -> None:
    server, password = site.server, PEOPLE["dave"][0]
    assert _podman_login(site, "dave", password) == 0
    registry_token = httpx.get(
        f"{server.url}/v2/auth",
        params={"service": server.host, "scope": "repository:dave/app:pull,push"},
        auth=("dave", password),
        timeout=30,
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {registry_token}"}
    session = _session(server, "dave", password)
    r = session.post("/api/v1/user/apptoken", json={"title": "e2e laptop"})
    assert r.status_code == 200, r.text
    app_token = r.json()["token"]["token_code"]
    oauth = user_token(server, "dave")

    def v2(headers: dict[str, str]) -> int:
        return httpx.get(f"{server.url}/v2/dave/app/tags/list", headers=headers, timeout=30).status_code

    def app_login() -> int:
        return httpx.get(f"{server.url}/v2/auth", auth=("$app", app_token), timeout=30).status_code

    def api_user(headers: dict[str, str]) -> int:
        return httpx.get(f"{server.url}/api/v1/user/", headers=headers, timeout=30).status_code

    # all work while dave is in the directory (no repository yet: the token is good, the name unknown)
    assert v2(bearer) == 404
    assert app_login() == 200
    assert api_user({"Authorization": f"Bearer {oauth}"}) == 200
    assert session.get("/api/v1/user/").status_code == 200
    signed_in = '<span class="who" title="Signed in">dave</span>'
    assert signed_in in session.get("/").text  # the web UI shares the session

    # erin, still in the directory, keeps her session through the checks
    erin = _session(server, "erin", PEOPLE["erin"][0])
    site.directory.remove_user("dave")
    assert _podman_login(site, "dave", password) != 0  # the directory refuses at once

    # the check job ends everything that does not ask the directory
    wait_until(lambda: session.get("/api/v1/user/").status_code == 401, "the check job to end dave's session")
    assert signed_in not in session.get("/").text
    assert v2(bearer) == 401
    assert app_login() == 401
    assert api_user({"Authorization": f"Bearer {oauth}"}) == 401
    assert erin.get("/api/v1/user/").json()["username"] == "erin"
    session.close()
    erin.close()


def test_chromium_signs_in_with_the_directory_password(site: Site, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{site.server.url}/signin")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill(PEOPLE["carol"][0])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{site.server.url}/")
    expect(page.locator(".who")).to_have_text("carol")

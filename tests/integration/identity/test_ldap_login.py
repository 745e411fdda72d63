"""Users signing in against a real OpenLDAP directory (AUTHENTICATION_TYPE: LDAP, issue 19)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests import ldap_server
from tests.ldap_server import LdapServer
from wharf.app import WharfApp, build_app
from wharf.config import load_settings

pytestmark = pytest.mark.skipif(not ldap_server.available(), reason="needs slapd and python-ldap")

PEOPLE = {
    "jane": ("jane-directory-pw", "jane@example.org"),
    "bob": ("bob-directory-pw", None),
    "Mixed.Case": ("mixed-directory-pw", None),
}


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[LdapServer]:
    server = ldap_server.start_slapd(tmp_path / "slapd", PEOPLE)
    yield server
    server.stop()


@pytest.fixture
async def make_wharf(
    wharf: WharfApp, data_dir: Path, db_uri: str | None, directory: LdapServer
) -> AsyncIterator[Any]:
    """Wharf apps on this test's database (which `wharf`, signing in against it, migrated),
    signing in against the directory."""
    made: list[WharfApp] = []

    def make(**more: Any) -> WharfApp:
        overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **directory.settings(**more)}
        app = build_app(load_settings(None, overrides, environ={}), run_workers=False)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.rt.close()


@pytest.fixture
async def ldap_http(make_wharf: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(make_wharf(LOGIN_CACHE_TTL_S=0)) as c:
        yield c


def _client(app: WharfApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://wharf.test")


async def _signin(http: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    """POST /api/v1/signin as a browser does, with the pre-session CSRF token; the session cookie
    stays in the client."""
    csrf = (await http.get("/csrf_token")).json()["csrf_token"]
    r = await http.post(
        "/api/v1/signin", json={"username": user, "password": password}, headers={"X-CSRF-Token": csrf}
    )
    if r.status_code == 200:
        http.headers["X-CSRF-Token"] = (await http.get("/csrf_token")).json()["csrf_token"]
    return r


async def _token(http: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await http.get("/v2/auth", params={"scope": "repository:someone/app:pull"}, auth=(user, password))


async def test_a_directory_user_logs_in_with_the_directory_password(ldap_http: httpx.AsyncClient) -> None:
    r = await _token(ldap_http, "jane", "jane-directory-pw")
    assert r.status_code == 200, r.text
    assert jwt.decode(r.json()["token"], options={"verify_signature": False})["sub"] == "jane"
    # the account was made on that first login, with the directory's e-mail, and no password
    r = await ldap_http.get("/api/v1/users/jane")
    assert r.status_code == 200 and r.json()["username"] == "jane"
    # and the next login finds it
    assert (await _token(ldap_http, "jane", "jane-directory-pw")).status_code == 200


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("jane", "wrong"),
        ("jane", ""),  # an unauthenticated bind proves nothing
        ("nobody", "jane-directory-pw"),
        ("*", "jane-directory-pw"),  # filter injection (RFC 4515 escaping)
        ("j*", "jane-directory-pw"),
        ("jane)(uid=*", "jane-directory-pw"),
        ("bob", "jane-directory-pw"),
    ],
)
async def test_wrong_credentials_are_refused(ldap_http: httpx.AsyncClient, user: str, password: str) -> None:
    r = await _token(ldap_http, user, password)
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_a_directory_name_that_is_no_namespace_name_gets_a_valid_one(
    ldap_http: httpx.AsyncClient,
) -> None:
    r = await _token(ldap_http, "Mixed.Case", "mixed-directory-pw")
    assert r.status_code == 200, r.text
    assert jwt.decode(r.json()["token"], options={"verify_signature": False})["sub"] == "mixed.case"


async def test_a_client_key_holds_the_directory_password_sealed(
    ldap_http: httpx.AsyncClient, directory: LdapServer
) -> None:
    """generateUserClientKey for a directory user (Quay's encrypted password): it logs in with the
    directory name until the directory password changes."""
    assert (await _signin(ldap_http, "Mixed.Case", "mixed-directory-pw")).status_code == 200
    r = await ldap_http.post("/api/v1/user/clientkey", json={"password": "wrong"})
    assert r.status_code == 400, r.text
    r = await ldap_http.post("/api/v1/user/clientkey", json={"password": "mixed-directory-pw"})
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert "mixed-directory-pw" not in key
    r = await _token(ldap_http, "Mixed.Case", key)
    assert r.status_code == 200, r.text
    assert jwt.decode(r.json()["token"], options={"verify_signature": False})["sub"] == "mixed.case"
    assert (await _token(ldap_http, "jane", key)).status_code == 401  # another entry's name
    directory.set_password("Mixed.Case", "a-new-directory-pw")
    assert (await _token(ldap_http, "Mixed.Case", key)).status_code == 401


async def test_a_local_account_of_the_same_name_is_not_taken_over(make_wharf: Any, wharf: WharfApp) -> None:
    async with _client(wharf) as local:  # the database login, before the switch to LDAP
        r = await local.post(
            "/api/v1/user/", json={"username": "bob", "password": "local-bob-password", "email": "bob@local"}
        )
        assert r.status_code in (200, 201), r.text
    async with _client(make_wharf(LOGIN_CACHE_TTL_S=0)) as http:
        r = await _token(http, "bob", "bob-directory-pw")
        assert r.status_code == 200, r.text
        assert jwt.decode(r.json()["token"], options={"verify_signature": False})["sub"] == "bob1"
        # the local password no longer signs in: the directory decides
        assert (await _token(http, "bob", "local-bob-password")).status_code == 401


async def test_superusers_come_from_the_directory_filter(make_wharf: Any) -> None:
    async with _client(make_wharf(LDAP_SUPERUSER_FILTER="(uid=jane)", LOGIN_CACHE_TTL_S=0)) as http:
        r = await _signin(http, "jane", "jane-directory-pw")
        assert r.status_code == 200, r.text
        assert (await http.get("/api/v1/superuser/users/")).status_code == 200
    async with _client(make_wharf(LOGIN_CACHE_TTL_S=0)) as http:
        # the filter changed: at the next sign-in jane is no superuser any more
        r = await _signin(http, "jane", "jane-directory-pw")
        assert r.status_code == 200, r.text
        assert (await http.get("/api/v1/superuser/users/")).status_code == 403


async def test_a_user_removed_from_the_directory_can_no_longer_log_in(
    ldap_http: httpx.AsyncClient, directory: LdapServer
) -> None:
    directory.add_user("carol", "carol-directory-pw", "carol@example.org")
    assert (await _token(ldap_http, "carol", "carol-directory-pw")).status_code == 200
    directory.remove_user("carol")
    assert (await _token(ldap_http, "carol", "carol-directory-pw")).status_code == 401


async def test_an_unreachable_directory_fails_closed_with_a_clear_error(
    ldap_http: httpx.AsyncClient, directory: LdapServer
) -> None:
    directory.stop()
    r = await _token(ldap_http, "jane", "jane-directory-pw")
    assert r.status_code == 503, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "UNAVAILABLE" and "cannot be reached" in error["message"]
    r = await _signin(ldap_http, "jane", "jane-directory-pw")
    assert r.status_code == 503 and r.json()["error_type"] == "downstream_issue"
    directory.start()
    assert (await _token(ldap_http, "jane", "jane-directory-pw")).status_code == 200


async def test_a_wrong_service_account_says_which_keys_to_check(make_wharf: Any) -> None:
    async with _client(make_wharf(LDAP_ADMIN_PASSWD="not-it")) as http:
        r = await _token(http, "jane", "jane-directory-pw")
        assert r.status_code == 503
        assert "LDAP_ADMIN_PASSWD" in r.json()["errors"][0]["message"]


async def test_without_user_creation_a_new_directory_user_is_told_to_ask(make_wharf: Any) -> None:
    async with _client(make_wharf(FEATURE_USER_CREATION=False)) as http:
        r = await _token(http, "jane", "jane-directory-pw")
        assert r.status_code == 403, r.text
        assert "ask an administrator" in r.json()["errors"][0]["message"]


async def test_the_user_filter_narrows_who_may_sign_in(make_wharf: Any) -> None:
    async with _client(make_wharf(LDAP_USER_FILTER="(mail=*)", LOGIN_CACHE_TTL_S=0)) as http:
        assert (await _token(http, "jane", "jane-directory-pw")).status_code == 200
        assert (await _token(http, "bob", "bob-directory-pw")).status_code == 401  # no mail

"""Signing in against a directory over TLS: ldaps://, StartTLS, LDAP_CA_FILE, and what happens
when the certificate is not to be trusted (issue 19)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import ldap_server
from tests.ldap_server import LdapServer
from wharf.app import WharfApp, build_app
from wharf.config import load_settings

pytestmark = pytest.mark.skipif(not ldap_server.available(), reason="needs slapd and python-ldap")

PEOPLE: dict[str, tuple[str, str | None]] = {"jane": ("jane-directory-pw", "jane@example.org")}


@pytest.fixture
def tls_directory(tmp_path: Path) -> Iterator[LdapServer]:
    server = ldap_server.start_slapd(tmp_path / "slapd", PEOPLE, tls=True)
    yield server
    server.stop()


@pytest.fixture
def plain_directory(tmp_path: Path) -> Iterator[LdapServer]:
    server = ldap_server.start_slapd(tmp_path / "plain", PEOPLE)
    yield server
    server.stop()


@pytest.fixture
def wrong_ca(tmp_path: Path) -> str:
    """A CA that signed nothing the directory shows."""
    ldap_server.make_ca(tmp_path, "other-ca")
    return str(tmp_path / "other-ca.pem")


@pytest.fixture
async def make_wharf(wharf: WharfApp, data_dir: Path, db_uri: str | None) -> AsyncIterator[Any]:
    made: list[WharfApp] = []

    def make(directory: LdapServer, **more: Any) -> WharfApp:
        keys = {"LOGIN_CACHE_TTL_S": 0, **more}
        overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **directory.settings(**keys)}
        app = build_app(load_settings(None, overrides, environ={}), run_workers=False)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.rt.close()


async def _token(app: WharfApp) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://wharf.test") as http:
        return await http.get(
            "/v2/auth", params={"scope": "repository:jane/app:pull"}, auth=("jane", "jane-directory-pw")
        )


def _refusal(r: httpx.Response) -> str:
    assert r.status_code == 503, r.text
    return str(r.json()["errors"][0]["message"])


async def test_ldaps_with_the_directory_ca(make_wharf: Any, tls_directory: LdapServer) -> None:
    app = make_wharf(tls_directory, LDAP_URI=tls_directory.ldaps_uri, LDAP_CA_FILE=tls_directory.ca_file)
    r = await _token(app)
    assert r.status_code == 200, r.text


async def test_ldaps_with_a_ca_that_did_not_sign_the_certificate_is_refused(
    make_wharf: Any, tls_directory: LdapServer, wrong_ca: str
) -> None:
    app = make_wharf(tls_directory, LDAP_URI=tls_directory.ldaps_uri, LDAP_CA_FILE=wrong_ca)
    message = _refusal(await _token(app))
    assert "certificate" in message and "LDAP_CA_FILE" in message


async def test_start_tls_with_the_directory_ca(make_wharf: Any, tls_directory: LdapServer) -> None:
    app = make_wharf(tls_directory, LDAP_START_TLS=True, LDAP_CA_FILE=tls_directory.ca_file)
    assert (await _token(app)).status_code == 200


async def test_start_tls_with_an_untrusted_certificate_is_refused_even_with_the_fallback(
    make_wharf: Any, tls_directory: LdapServer, wrong_ca: str
) -> None:
    # The fallback is for directories that offer no TLS; a certificate that fails verification
    # may be an attacker's, and going on in the clear would hand them the password.
    for fallback in (False, True):
        app = make_wharf(
            tls_directory, LDAP_START_TLS=True, LDAP_CA_FILE=wrong_ca, LDAP_ALLOW_INSECURE_FALLBACK=fallback
        )
        message = _refusal(await _token(app))
        assert "StartTLS" in message and "certificate" in message


async def test_start_tls_against_a_directory_without_tls(
    make_wharf: Any, plain_directory: LdapServer
) -> None:
    message = _refusal(await _token(make_wharf(plain_directory, LDAP_START_TLS=True)))
    assert "StartTLS" in message and "LDAP_ALLOW_INSECURE_FALLBACK" in message
    app = make_wharf(plain_directory, LDAP_START_TLS=True, LDAP_ALLOW_INSECURE_FALLBACK=True)
    assert (await _token(app)).status_code == 200

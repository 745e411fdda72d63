"""Users signing in with an OpenID Connect provider (KEYCLOAK_LOGIN_CONFIG, issue 19): the whole
authorization-code flow against a real issuer (tests/oidc_issuer.py), the browser's redirects
followed by hand."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import TEST_HOSTNAME
from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor, forms_of
from tests.oidc_issuer import Issuer, running_issuer
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import accounts, federated_logins

PW = "pw-" + "x" * 8


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


def login_config(issuer: Issuer, **more: Any) -> dict[str, Any]:
    return {
        "OIDC_SERVER": issuer.url + "/",
        "CLIENT_ID": issuer.client_id,
        "CLIENT_SECRET": issuer.client_secret,
        "SERVICE_NAME": "Keycloak",
        "LOGIN_SCOPES": ["openid", "email", "profile"],
        "DEBUGGING": True,  # the test issuer speaks plain http
        **more,
    }


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, issuer: Issuer, extra_settings: dict[str, Any]) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the issuer listens on loopback
        "KEYCLOAK_LOGIN_CONFIG": login_config(issuer),
        **extra_settings,
    }
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def browser(wharf: WharfApp) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    yield v
    await v.close()


@pytest.fixture
async def provider_http() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's requests to the provider, over the network."""
    async with httpx.AsyncClient(follow_redirects=False) as c:
        yield c


def auth_url_of(r: httpx.Response) -> str:
    """The provider's authorization URL, where the page after "Sign in with ..." sends the browser."""
    assert r.status_code == 200, r.text
    found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', r.text)
    assert found is not None
    link = re.search(r'<a href="([^"]+)" id="continue">', r.text)
    assert link is not None and link.group(1) == found.group(1)
    return html.unescape(found.group(1))


async def start(browser: Visitor, redirect_url: str = "/") -> str:
    """Press "Sign in with Keycloak": the provider's authorization URL."""
    page = await browser.get(f"/signin?redirect_url={redirect_url}")
    assert "Sign in with Keycloak" in page.text
    form = next(f for f in forms_of(page.text) if f.action == "/oauth2/keycloak/start")
    return auth_url_of(await browser.http.post(form.action, data=form.fields))


async def at_provider(provider_http: httpx.AsyncClient, auth_url: str) -> str:
    """The provider approves at once: the callback path (with code and state) it sends back to."""
    r = await provider_http.get(auth_url)
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.netloc == TEST_HOSTNAME and back.path == "/oauth2/keycloak/callback"
    return f"{back.path}?{back.query}"


async def sign_in(
    browser: Visitor, provider_http: httpx.AsyncClient, redirect_url: str = "/"
) -> httpx.Response:
    return await browser.get(await at_provider(provider_http, await start(browser, redirect_url)))


async def signed_in_as(browser: Visitor) -> str | None:
    page = await browser.get("/", follow_redirects=True)  # or the confirm-username page it waits for
    found = re.search(r'<span class="who" title="Signed in">([^<]+)</span>', page.text)
    return found.group(1) if found else None


async def test_first_login_creates_the_linked_account(
    wharf: WharfApp, browser: Visitor, provider_http: httpx.AsyncClient, issuer: Issuer
) -> None:
    auth_url = await start(browser, "/repository/")
    query = parse_qs(urlsplit(auth_url).query)
    assert auth_url.startswith(issuer.url + "/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [issuer.client_id]
    assert query["redirect_uri"] == [f"http://{TEST_HOSTNAME}/oauth2/keycloak/callback"]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}
    assert query["state"][0] and query["nonce"][0]

    r = await browser.get(await at_provider(provider_http, auth_url))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/repository/"
    assert await signed_in_as(browser) == "jane.doe"
    # the token endpoint got the client secret and the PKCE verifier
    sent = issuer.token_requests[-1]
    assert sent["client_secret"] == issuer.client_secret and len(sent["code_verifier"]) >= 43

    account = await wharf.rt.db.read(accounts.get_by_name, "jane.doe")
    assert account is not None and account.email == "jane@example.org"
    linked = await wharf.rt.db.read(federated_logins.account_for, "keycloak", issuer.user["sub"])
    assert linked is not None and linked.id == account.id
    assert not await wharf.rt.db.read(accounts.has_password_set, account.id)
    me = (await browser.get("/api/v1/user/")).json()
    assert me["logins"] == [{"service": "keycloak", "service_identifier": issuer.user["sub"], "metadata": {}}]
    logs = (await browser.get("/api/v1/user/logs")).json()["logs"]
    kinds = {(e["kind"], e["metadata"].get("credential")) for e in logs}
    assert {("account_create", None), ("login_success", "keycloak")} <= kinds

    # signing in again reaches the same account, even when the provider's name for it changed
    assert (await browser.submit("/", "/signout")).status_code == 303
    assert await signed_in_as(browser) is None
    issuer.user = {**issuer.user, "preferred_username": "jane.renamed", "email": "jane@new.example.org"}
    assert (await sign_in(browser, provider_http)).status_code == 303
    assert await signed_in_as(browser) == "jane.doe"
    account = await wharf.rt.db.read(accounts.get_by_name, "jane.doe")
    assert account is not None and account.email == "jane@new.example.org"


async def test_a_taken_name_gets_a_variant_and_an_unverified_email_is_not_taken(
    wharf: WharfApp, reg: RegistryClient, browser: Visitor, provider_http: httpx.AsyncClient, issuer: Issuer
) -> None:
    await reg.create_user("jane.doe", PW)
    issuer.user = {**issuer.user, "email_verified": False}
    assert (await sign_in(browser, provider_http)).status_code == 303
    assert await signed_in_as(browser) == "jane.doe1"
    account = await wharf.rt.db.read(accounts.get_by_name, "jane.doe1")
    assert account is not None and account.email is None


async def test_without_a_user_name_claim_the_email_names_the_account(
    browser: Visitor, provider_http: httpx.AsyncClient, issuer: Issuer
) -> None:
    issuer.user = {"sub": "g-1029384756", "email": "Pat.Lee@example.org", "email_verified": True}
    assert (await sign_in(browser, provider_http)).status_code == 303
    assert await signed_in_as(browser) == "pat.lee"


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"iss": "https://impostor.example"}, "issuer"),
        ({"nonce": "a-nonce-of-another-login"}, "nonce"),
        ({"aud": ["another-client", "wharf"], "azp": "another-client"}, "azp"),
    ],
)
async def test_an_id_token_for_something_else_is_refused(
    wharf: WharfApp,
    browser: Visitor,
    provider_http: httpx.AsyncClient,
    issuer: Issuer,
    override: dict[str, str],
    why: str,
) -> None:
    issuer.id_token_overrides = override
    r = await sign_in(browser, provider_http)
    assert r.status_code == 403
    assert "Keycloak did not confirm who you are" in r.text and why in r.text.lower()
    assert await signed_in_as(browser) is None
    assert await wharf.rt.db.read(accounts.get_by_name, "jane.doe") is None


async def test_state_must_be_this_browsers_and_is_used_once(
    wharf: WharfApp, browser: Visitor, provider_http: httpx.AsyncClient
) -> None:
    callback = await at_provider(provider_http, await start(browser))
    # another browser (an attacker who captured the callback, or a login CSRF) cannot finish it
    other = Visitor(wharf)
    try:
        r = await other.get(callback)
        assert r.status_code == 403 and "was not started in this browser" in r.text
        assert await signed_in_as(other) is None
    finally:
        await other.close()
    # ...and the state is used up: not even the right browser can use it after that
    assert (await browser.get(callback)).status_code == 403

    callback = await at_provider(provider_http, await start(browser))
    assert (await browser.get(callback)).status_code == 303
    replayed = await browser.get(callback)
    assert replayed.status_code == 403 and "has expired" in replayed.text

    made_up = re.sub(r"state=[^&]+", "state=not-a-state", callback)
    assert (await Visitor(wharf).get(made_up)).status_code == 403


async def test_the_pkce_verifier_must_match(
    browser: Visitor, provider_http: httpx.AsyncClient, issuer: Issuer
) -> None:
    auth_url = await start(browser)
    # the code is bound to the challenge of this login: another challenge (an attacker's login
    # whose code is injected here) does not verify with this login's verifier
    swapped = re.sub(r"code_challenge=[^&]+", "code_challenge=" + "A" * 43, auth_url)
    r = await browser.get(await at_provider(provider_http, swapped))
    assert r.status_code == 403 and "refused the code (invalid_grant)" in r.text
    assert issuer.token_requests and await signed_in_as(browser) is None


async def test_an_error_from_the_provider_is_shown_on_the_sign_in_page(
    browser: Visitor, provider_http: httpx.AsyncClient
) -> None:
    callback = await at_provider(provider_http, await start(browser))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    r = await browser.get(
        f"/oauth2/keycloak/callback?error=access_denied&error_description=You+said+no&state={state}"
    )
    assert r.status_code == 403
    assert 'role="alert"' in r.text and "Keycloak did not sign you in: You said no" in r.text
    # the refused login's state is used up
    assert (await browser.get(callback)).status_code == 403
    assert (await browser.get("/oauth2/nosuch/callback?code=x&state=y")).status_code == 404


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
async def test_no_open_redirect_after_login(
    browser: Visitor, provider_http: httpx.AsyncClient, target: str
) -> None:
    page = await browser.get("/signin")
    form = next(f for f in forms_of(page.text) if f.action == "/oauth2/keycloak/start")
    r = await browser.http.post(form.action, data={**form.fields, "redirect_url": target})
    r = await browser.get(await at_provider(provider_http, auth_url_of(r)))
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize("extra_settings", [{"FEATURE_USER_CREATION": False}])
async def test_user_creation_disabled(
    wharf: WharfApp, browser: Visitor, provider_http: httpx.AsyncClient, issuer: Issuer
) -> None:
    r = await sign_in(browser, provider_http)
    assert r.status_code == 403 and "user creation is disabled" in r.text
    assert await wharf.rt.db.read(accounts.get_by_name, "jane.doe") is None
    # an account an administrator linked beforehand signs in
    account = await wharf.rt.db.write(accounts.create_user, "jane", None, None)
    await wharf.rt.db.write(federated_logins.attach, "keycloak", issuer.user["sub"], account.id)
    assert (await sign_in(browser, provider_http)).status_code == 303
    assert await signed_in_as(browser) == "jane"


async def test_attach_and_detach(
    wharf: WharfApp, reg: RegistryClient, browser: Visitor, provider_http: httpx.AsyncClient, issuer: Issuer
) -> None:
    await reg.create_user("bob", PW)
    await browser.sign_in("bob", PW)
    settings_page = "/user/bob?tab=settings"
    page = await browser.get(settings_page)
    assert "Attach Keycloak" in page.text
    r = await browser.submit(settings_page, "/oauth2/keycloak/start", intent="attach")
    r = await browser.get(await at_provider(provider_http, auth_url_of(r)))
    assert r.status_code == 303 and r.headers["location"] == settings_page
    bob = await wharf.rt.db.read(federated_logins.account_for, "keycloak", issuer.user["sub"])
    assert bob is not None and bob.name == "bob"
    page = await browser.get(settings_page)
    assert issuer.user["sub"] in page.text and "Attach Keycloak" not in page.text

    # the provider now signs in to bob's account, in another browser
    other = Visitor(wharf)
    try:
        assert (await sign_in(other, provider_http)).status_code == 303
        assert await signed_in_as(other) == "bob"
    finally:
        await other.close()

    r = await browser.submit(settings_page, "/user/bob/externallogins/keycloak/detach")
    assert r.status_code == 303
    assert await wharf.rt.db.read(federated_logins.account_for, "keycloak", issuer.user["sub"]) is None
    assert "Attach Keycloak" in (await browser.get(settings_page)).text


async def test_an_identity_linked_elsewhere_cannot_be_attached(
    wharf: WharfApp, reg: RegistryClient, browser: Visitor, provider_http: httpx.AsyncClient
) -> None:
    other = Visitor(wharf)
    try:
        assert (await sign_in(other, provider_http)).status_code == 303  # creates jane.doe
    finally:
        await other.close()
    await reg.create_user("bob", PW)
    await browser.sign_in("bob", PW)
    r = await browser.submit("/user/bob?tab=settings", "/oauth2/keycloak/start", intent="attach")
    r = await browser.get(await at_provider(provider_http, auth_url_of(r)))
    assert r.status_code == 403 and "already linked to another account" in r.text


async def test_api_authorization_url_and_detach(
    wharf: WharfApp,
    client: httpx.AsyncClient,
    browser: Visitor,
    provider_http: httpx.AsyncClient,
    issuer: Issuer,
) -> None:
    r = await client.post("/api/v1/externallogin/keycloak", json={"kind": "login"})
    assert r.status_code == 200, r.text
    assert r.json()["auth_url"].startswith(issuer.url + "/authorize?")
    assert "wharf_external_login" in r.cookies
    assert (await client.post("/api/v1/externallogin/nosuch", json={"kind": "login"})).status_code == 404
    assert (await client.post("/api/v1/externallogin/keycloak", json={"kind": "attach"})).status_code == 401
    assert (await client.post("/api/v1/externallogin/keycloak", json={"kind": "cli"})).status_code == 400

    # the only way into an OIDC-only account is not detached
    assert (await sign_in(browser, provider_http)).status_code == 303
    csrf = (await browser.get("/csrf_token")).json()["csrf_token"]
    r = await browser.http.post("/api/v1/detachexternal/keycloak", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and "only way to sign in" in r.text
    r = await browser.http.post("/api/v1/detachexternal/github", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404
    assert (await client.post("/api/v1/detachexternal/keycloak")).status_code == 401


async def test_an_oidc_user_logs_in_to_the_registry_with_an_app_token(
    browser: Visitor, provider_http: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    assert (await sign_in(browser, provider_http)).status_code == 303
    page = await browser.get("/user/jane.doe?tab=settings")
    assert "Your account has no password" in page.text and "/user/jane.doe/password" not in page.text
    r = await browser.submit("/user/jane.doe?tab=settings", "/user/jane.doe/apptokens", title="podman")
    assert r.status_code == 201, r.text
    secret = re.search(r'data-copy="([^"]+)"', r.text)
    assert secret is not None
    r = await client.get("/v2/auth", params={"service": TEST_HOSTNAME}, auth=("$app", secret.group(1)))
    assert r.status_code == 200, r.text
    # the account has no password: nothing else logs in as it
    r = await client.get("/v2/auth", params={"service": TEST_HOSTNAME}, auth=("jane.doe", ""))
    assert r.status_code == 401

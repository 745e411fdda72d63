"""Users signing in with GitHub (Enterprise) (GITHUB_LOGIN_CONFIG, issue 19): OAuth 2 and GitHub's
API against a real local server (tests/github_server.py) through the outbound guard, the browser's
redirects followed by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import TEST_HOSTNAME
from tests.github_server import GitHub, running_github
from tests.integration.identity.test_oidc_login import auth_url_of, signed_in_as
from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor, forms_of
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import accounts, federated_logins


@pytest.fixture(scope="module")
def github() -> Iterator[GitHub]:
    with running_github() as g:
        yield g


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, github: GitHub, extra_settings: dict[str, Any]) -> Settings:
    github.user = {"id": 583231, "login": "octocat"}
    github.emails = [
        {"email": "octo@old.example.org", "primary": False, "verified": True},
        {"email": "octocat@example.org", "primary": True, "verified": True},
    ]
    github.orgs = ["Octo-Org"]
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.0/8"],  # the server listens on loopback
        "FEATURE_GITHUB_LOGIN": True,
        "GITHUB_LOGIN_CONFIG": {
            "GITHUB_ENDPOINT": github.url + "/",
            "CLIENT_ID": github.client_id,
            "CLIENT_SECRET": github.client_secret,
            "DEBUGGING": True,  # the test server speaks plain http
            **extra_settings,
        },
    }
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def browser(wharf: WharfApp) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    yield v
    await v.close()


async def sign_in(browser: Visitor) -> httpx.Response:
    """Press "Sign in with GitHub Enterprise", approve at GitHub, come back."""
    page = await browser.get("/signin?redirect_url=/repository/")
    assert "Sign in with GitHub Enterprise" in page.text
    form = next(f for f in forms_of(page.text) if f.action == "/oauth2/github/start")
    auth_url = auth_url_of(await browser.http.post(form.action, data=form.fields))
    async with httpx.AsyncClient(follow_redirects=False) as at_github:
        r = await at_github.get(auth_url)
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.netloc == TEST_HOSTNAME and back.path == "/oauth2/github/callback"
    return await browser.get(f"{back.path}?{back.query}")


async def test_first_login_creates_the_account_linked_by_github_id(
    wharf: WharfApp, browser: Visitor, github: GitHub
) -> None:
    r = await sign_in(browser)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/repository/"
    assert await signed_in_as(browser) == "octocat"
    assert github.scopes[-1] == "user:email"
    account = await wharf.rt.db.read(accounts.get_by_name, "octocat")
    assert account is not None and account.email == "octocat@example.org"  # the verified primary
    linked = await wharf.rt.db.read(federated_logins.account_for, "github", "583231")
    assert linked is not None and linked.id == account.id

    # a renamed GitHub login signs in to the same account
    assert (await browser.submit("/", "/signout")).status_code == 303
    github.user = {"id": 583231, "login": "octocat-renamed"}
    assert (await sign_in(browser)).status_code == 303
    assert await signed_in_as(browser) == "octocat"

    config = (await browser.get("/config")).json()
    assert config["features"]["GITHUB_LOGIN"] is True
    assert config["external_login"] == [
        {"id": "github", "title": "GitHub Enterprise", "config": {"CLIENT_ID": github.client_id}}
    ]


async def test_a_taken_name_gets_a_variant_and_no_unverified_email(
    wharf: WharfApp, reg: RegistryClient, browser: Visitor, github: GitHub
) -> None:
    await reg.create_user("octocat", "pw-" + "x" * 8)
    github.user = {"id": 9001, "login": "octocat"}
    github.emails = [{"email": "maybe@example.org", "primary": False, "verified": False}]
    r = await sign_in(browser)
    assert r.status_code == 303
    assert await signed_in_as(browser) == "octocat1"
    account = await wharf.rt.db.read(accounts.get_by_name, "octocat1")
    assert account is not None and account.email is None

    # Quay's confirm-username step: the chosen name is shown, to keep or change, before going on
    assert r.headers["location"] == "/updateuser?redirect_url=%2Frepository%2F"
    assert (await browser.get("/api/v1/user/")).json()["prompts"] == ["confirm_username"]
    page = await browser.get(r.headers["location"])
    assert "Confirm your username" in page.text and 'value="octocat1"' in page.text
    refused = await browser.submit(r.headers["location"], "/updateuser", username="octocat")
    assert refused.status_code == 409 and "is taken" in refused.text
    done = await browser.submit(r.headers["location"], "/updateuser", username="octo-gh")
    assert done.status_code == 303 and done.headers["location"] == "/repository/"
    assert await signed_in_as(browser) == "octo-gh"
    assert (await browser.get("/api/v1/user/")).json()["prompts"] == []
    assert (await browser.get("/updateuser")).status_code == 303  # answered: nothing to confirm

    # the next sign-in goes straight on
    assert (await browser.submit("/", "/signout")).status_code == 303
    again = await sign_in(browser)
    assert again.headers["location"] == "/repository/"
    assert await signed_in_as(browser) == "octo-gh"


@pytest.mark.parametrize(
    "extra_settings", [{"ORG_RESTRICT": True, "ALLOWED_ORGANIZATIONS": ["octo-org", "other"]}]
)
async def test_org_restrict_admits_members_of_an_allowed_organization_only(
    wharf: WharfApp, browser: Visitor, github: GitHub
) -> None:
    github.orgs = ["Not-Allowed"]
    r = await sign_in(browser)
    assert r.status_code == 403
    assert "not a member of an allowed GitHub Enterprise organization" in r.text
    assert github.scopes[-1] == "user:email read:org"
    assert await signed_in_as(browser) is None
    assert await wharf.rt.db.read(accounts.get_by_name, "octocat") is None

    github.orgs = ["Not-Allowed", "Octo-Org"]  # names compare without case
    assert (await sign_in(browser)).status_code == 303
    assert await signed_in_as(browser) == "octocat"


async def test_a_code_github_refuses_signs_nobody_in(browser: Visitor, github: GitHub) -> None:
    page = await browser.get("/signin")
    form = next(f for f in forms_of(page.text) if f.action == "/oauth2/github/start")
    auth_url = auth_url_of(await browser.http.post(form.action, data=form.fields))
    state = parse_qs(urlsplit(auth_url).query)["state"][0]
    r = await browser.get(f"/oauth2/github/callback?code=made-up&state={state}")
    assert r.status_code == 403
    assert "bad_verification_code" in r.text
    assert await signed_in_as(browser) is None


async def test_a_local_account_attaches_github(
    wharf: WharfApp, reg: RegistryClient, browser: Visitor, github: GitHub
) -> None:
    await reg.create_user("bob", "pw-" + "x" * 8)
    await browser.sign_in("bob", "pw-" + "x" * 8)
    settings_page = "/user/bob?tab=settings"
    assert "Attach GitHub Enterprise" in (await browser.get(settings_page)).text
    r = await browser.submit(settings_page, "/oauth2/github/start", intent="attach")
    async with httpx.AsyncClient(follow_redirects=False) as at_github:
        back = urlsplit((await at_github.get(auth_url_of(r))).headers["location"])
    r = await browser.get(f"{back.path}?{back.query}")
    assert r.status_code == 303 and r.headers["location"] == settings_page
    bob = await wharf.rt.db.read(federated_logins.account_for, "github", "583231")
    assert bob is not None and bob.name == "bob"
    # signing in with GitHub now reaches bob, with no name to confirm (bob chose his)
    assert (await browser.submit("/", "/signout")).status_code == 303
    r = await sign_in(browser)
    assert r.headers["location"] == "/repository/"
    assert await signed_in_as(browser) == "bob"

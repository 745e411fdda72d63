"""Signing in with an OpenID Connect provider in a real browser: the sign-in page's button, the
provider (tests/oidc_issuer.py, approving its test user at once) and back, signed in; and a
refused ID token shown on the sign-in page. Chromium enforces the pages' CSP on the way."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots
from tests.e2e.harness import SERVER_KIND, Server
from tests.oidc_issuer import Issuer, running_issuer

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as i:
        yield i


@pytest.fixture
def server_settings(issuer: Issuer) -> dict[str, str]:
    config = {
        "OIDC_SERVER": issuer.url,
        "CLIENT_ID": issuer.client_id,
        "CLIENT_SECRET": issuer.client_secret,
        "SERVICE_NAME": "Keycloak",
        "DEBUGGING": True,  # the test issuer speaks plain http
    }
    return {
        "WHARF_KEYCLOAK_LOGIN_CONFIG": json.dumps(config),
        "WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.0/8"]',
    }


def test_sign_in_with_the_provider_button(browser: Browser, server: Server, issuer: Issuer) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    shot = Shots(page, "oidc_login")
    page.goto(f"{server.url}/signin")
    button = page.get_by_role("button", name="Sign in with Keycloak")
    expect(button).to_be_visible()
    shot("sign-in-page")

    button.click()
    page.wait_for_url(f"{server.url}/")
    expect(page.locator(".who")).to_have_text("jane.doe")
    assert any(p.startswith("/authorize?") for p in issuer.requests)
    shot("signed-in")

    page.goto(f"{server.url}/user/jane.doe?tab=settings")
    linked = page.locator("section.linked-logins")
    expect(linked).to_contain_text("Keycloak")
    expect(linked).to_contain_text(str(issuer.user["sub"]))
    shot("settings")

    # a token for another client is refused, and the sign-in page says why
    issuer.id_token_overrides = {"aud": "another-client"}
    other = browser.new_page()
    other.goto(f"{server.url}/signin")
    other.get_by_role("button", name="Sign in with Keycloak").click()
    other.wait_for_url(re.compile(r".*/oauth2/keycloak/callback\?.*"))
    expect(other.get_by_role("alert")).to_contain_text("Keycloak did not confirm who you are")
    expect(other.locator(".who")).to_have_count(0)

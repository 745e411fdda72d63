"""An OAuth application's consent page in a real browser: an anonymous visitor signs in and comes
back to it, approving hands the application a token in the redirect's fragment, and cancelling
hands it access_denied. Chromium enforces the page's CSP, form-action included, on the redirect
that follows the form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect

from tests.e2e.browser import Shots
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

CALLBACK = "https://ci.example.test/callback"


def _application(server: Server) -> str:
    with admin_api(server) as api:
        made = api.post("/organization/", json={"name": "shipyard", "email": "shipyard@example.com"})
        assert made.status_code == 201, made.text
        app = api.post(
            "/organization/shipyard/applications", json={"name": "CI dashboard", "redirect_uri": CALLBACK}
        )
        assert app.status_code == 200, app.text
        client_id: str = app.json()["client_id"]
        return client_id


def test_consent_page_signs_in_approves_and_cancels(browser: Browser, server: Server) -> None:
    client_id = _application(server)
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "repo:read user:admin",
            "response_type": "token",
            "state": "s-42",
        }
    )
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    shot = Shots(page, "oauth_consent")
    arrived: list[str] = []

    def application(route: Route) -> None:  # the application's side of the redirect
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>application</p>")

    page.route(re.compile(r"https://ci\.example\.test/.*"), application)

    page.goto(f"{server.url}/oauth/authorize?{query}")
    page.wait_for_url(re.compile(r".*/signin\?redirect_url=.*"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/oauth/authorize\?.*"))
    expect(page.get_by_role("heading", name="Authorize CI dashboard")).to_be_visible()
    expect(page.locator("ul.scopes li")).to_have_count(3)  # user:admin implies user:read
    expect(page.locator("ul.scopes li.dangerous")).to_contain_text("Administer user")
    shot("consent")

    page.get_by_role("button", name="Authorize application").click()
    page.wait_for_url(re.compile(r"https://ci\.example\.test/callback.*"))
    fragment = parse_qs(urlsplit(page.url).fragment)
    assert fragment["state"] == ["s-42"] and fragment["token_type"] == ["Bearer"]
    token = fragment["access_token"][0]
    me = httpx.get(f"{server.url}/api/v1/user/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "admin"

    page.goto(f"{server.url}/oauth/authorize?{query}")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r"https://ci\.example\.test/callback.*"))
    fragment = parse_qs(urlsplit(page.url).fragment)
    assert fragment["error"] == ["access_denied"] and fragment["state"] == ["s-42"]
    assert len(arrived) == 2

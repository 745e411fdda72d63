"""Signing in with GitHub in a real browser (tests/github_server.py approves its user at once), as
a GitHub user whose login cannot be a Wharf namespace as it is (uppercase, and `admin` is taken):
Quay's confirm-username step holds every page until the user picks a name, then they go on to the
page they asked for. Chromium enforces the pages' CSP on the way."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots
from tests.e2e.harness import SERVER_KIND, Server
from tests.github_server import GitHub, running_github

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


@pytest.fixture
def github() -> Iterator[GitHub]:
    with running_github() as g:
        g.user = {"id": 4242, "login": "Admin", "name": "Ada Admin"}
        yield g


@pytest.fixture
def server_settings(github: GitHub) -> dict[str, str]:
    config = {
        "GITHUB_ENDPOINT": github.url + "/",
        "CLIENT_ID": github.client_id,
        "CLIENT_SECRET": github.client_secret,
        "DEBUGGING": True,  # the test server speaks plain http
    }
    return {
        "WHARF_FEATURE_GITHUB_LOGIN": "true",
        "WHARF_GITHUB_LOGIN_CONFIG": json.dumps(config),
        "WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.0/8"]',
    }


def test_github_sign_in_confirms_the_username_first(browser: Browser, server: Server, github: GitHub) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    shot = Shots(page, "github_login")
    page.goto(f"{server.url}/signin?redirect_url=/repository/")
    page.get_by_role("button", name=re.compile(r"Sign in with GitHub")).click()

    # `admin` is the server's first user: the new account is admin1, to keep or change
    page.wait_for_url(re.compile(r".*/updateuser\?redirect_url=%2Frepository%2F$"))
    expect(page.get_by_role("heading", name="Confirm your username")).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value("admin1")
    assert any(p.startswith("/login/oauth/authorize?") for p in github.requests)
    shot("confirm-username")

    # every other page waits for the answer
    page.goto(f"{server.url}/organizations/new/")
    page.wait_for_url(re.compile(r".*/updateuser\?redirect_url=%2Forganizations%2Fnew%2F$"))
    page.goto(f"{server.url}/updateuser?redirect_url=%2Frepository%2F")

    page.get_by_label("Username").fill("ada")
    page.get_by_role("button", name="Confirm the username").click()
    page.wait_for_url(f"{server.url}/repository/")
    expect(page.locator(".who")).to_have_text("ada")
    expect(page.get_by_role("status")).to_contain_text("Your username is ada.")
    shot("repositories")

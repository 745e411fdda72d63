"""Connecting a build trigger to GitHub in a real browser: from a repository's Builds tab,
"Connect to GitHub" leaves for the local GitHub (tests/github_server.py), whose authorize step
approves at once and sends the browser back to Wharf's callback; the wizard then offers the
user's GitHub repositories, and activating adds the deploy key and push webhook at GitHub.
Chromium follows the meta-refresh to GitHub and the redirect back with the pages' CSP enforced.
The API and no-browser web levels are tests/integration/api/test_github_triggers.py's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api
from tests.github_server import GitHub, running_github

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


@pytest.fixture
def github() -> Iterator[GitHub]:
    with running_github() as g:
        g.add_repo("octocat/app", {"main": "1" * 40, "dev": "2" * 40}, ["Dockerfile"])
        g.add_repo("Octo-Org/lib", {"trunk": "3" * 40}, ["Dockerfile"])
        yield g


@pytest.fixture
def server_settings(github: GitHub) -> dict[str, str]:
    config = {
        "GITHUB_ENDPOINT": github.url,
        "CLIENT_ID": github.client_id,
        "CLIENT_SECRET": github.client_secret,
        "DEBUGGING": True,  # the local GitHub speaks plain http
    }
    return {
        "WHARF_FEATURE_GITHUB_BUILD": "true",
        "WHARF_GITHUB_TRIGGER_CONFIG": json.dumps(config),
        "WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.0/8"]',
    }


def test_connect_a_github_trigger_and_activate_it(browser: Browser, server: Server, github: GitHub) -> None:
    with admin_api(server) as api:
        created = {"namespace": "admin", "repository": "app", "visibility": "private", "description": ""}
        assert api.post("/repository", json=created).status_code == 201
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    shot = Shots(page, "github_trigger_connect")
    sign_in(page, server, "admin", ADMIN_PASSWORD)

    page.goto(f"{server.url}/repository/admin/app")
    page.get_by_role("link", name="Builds", exact=True).click()
    page.get_by_role("link", name="Build triggers").click()
    expect(page.get_by_role("heading", name="Set up a GitHub trigger")).to_be_visible()
    shot("triggers")
    page.get_by_role("button", name="Connect to GitHub").click()

    # Wharf -> GitHub's authorize step -> Wharf's callback -> the new, inactive trigger's page
    page.wait_for_url(re.compile(r".*/repository/admin/app/trigger/[0-9a-f-]+$"))
    assert any(p.startswith("/login/oauth/authorize?") for p in github.requests)
    expect(page.get_by_role("status")).to_contain_text("Connected to GitHub")
    expect(page.get_by_role("heading", name="Choose the GitHub repository")).to_be_visible()
    shot("wizard")

    page.get_by_role("combobox", name=re.compile(r"^Repository")).select_option("octocat/app")
    page.get_by_label("Build only refs matching").fill("heads/dev")
    page.get_by_role("button", name="Activate trigger").click()
    expect(page.get_by_role("status")).to_contain_text("The trigger is active")
    expect(page.get_by_role("heading", name="Build trigger octocat/app")).to_be_visible()
    expect(page.get_by_text("heads/dev", exact=True)).to_be_visible()
    # the key and the webhook are at GitHub already: nothing for the user to copy
    expect(page.get_by_role("heading", name="Added to GitHub")).to_be_visible()
    assert len(github.keys["octocat/app"]) == 1 and len(github.hooks["octocat/app"]) == 1
    shot("active")

    page.get_by_role("link", name="Builds", exact=True).click()
    page.get_by_role("link", name="Build triggers").click()
    row = page.get_by_role("row").filter(has_text="octocat/app")
    expect(row).to_contain_text("enabled")
    expect(row).to_contain_text("admin")
    shot("listed")

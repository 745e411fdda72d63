"""The main pages on a phone-sized screen: nothing wider than the screen but what scrolls inside
itself (tables, commands, the tab bar: wharf.css), and screenshots to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, ViewportSize

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 390, "height": 844}

# How far the page is wider than the screen (0 when it fits), and the elements sticking out.
_OVERFLOW = """() => {
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    if (el.closest('table.grid, pre, .command, .tabs')) return false;
    return el.getBoundingClientRect().right > window.innerWidth + 1;
  }).map((el) => el.tagName + '.' + el.className);
  return {scroll: document.documentElement.scrollWidth - window.innerWidth, wide: wide.slice(0, 5)};
}"""


def test_main_pages_fit_a_phone(browser: Browser, server: Server) -> None:
    with admin_api(server) as api:
        assert (
            api.post("/organization/", json={"name": "shipyard", "email": "s@example.com"}).status_code == 201
        )
        made = api.post(
            "/repository",
            json={
                "namespace": "shipyard",
                "repository": "a-service-with-a-rather-long-name",
                "visibility": "private",
                "description": "# Service\n\nRun it with `podman run` and a long line of text to wrap.",
            },
        )
        assert made.status_code == 201, made.text

    page = browser.new_page(viewport=PHONE, is_mobile=True)
    shot = Shots(page, "phone")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    repo = "/repository/shipyard/a-service-with-a-rather-long-name"
    pages = {
        "home": "/",
        "repository": repo,
        "tags": f"{repo}?tab=tags",
        "settings": f"{repo}?tab=settings",
        "logs": f"{repo}?tab=logs",
        "organization-teams": "/organization/shipyard?tab=teams",
        "robots": "/organization/shipyard?tab=robots",
        "account": "/user/admin?tab=settings",
        "superuser": "/superuser",
    }
    too_wide = {}
    for name, path in pages.items():
        page.goto(server.url + path)
        shot(name)
        found = page.evaluate(_OVERFLOW)
        if found["scroll"] > 0 or found["wide"]:
            too_wide[name] = found
    assert not too_wide, too_wide

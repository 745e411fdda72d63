"""The main pages on a phone-sized screen: a one-row header with a menu, tab bars that scroll with
a cue, nothing wider than the screen but what scrolls inside itself (tables, a command's text, the
tab bar: wharf.css), copy buttons in view, short digests, and screenshots to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api
from tests.e2e.tiny_image import push_tiny_image

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 390, "height": 844}

# How far the page is wider than the screen (0 when it fits), and the elements sticking out.
_OVERFLOW = """() => {
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    if (el.closest('table.grid, pre, .command code, .tabs')) return false;
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
        assert api.put("/organization/shipyard/robots/deployer").status_code in (200, 201)
    digest = push_tiny_image(server, "shipyard/a-service-with-a-rather-long-name", "v1")

    page = browser.new_page(viewport=PHONE, is_mobile=True)
    shot = Shots(page, "phone")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    repo = "/repository/shipyard/a-service-with-a-rather-long-name"
    pages = {
        "home": "/",
        "repository": repo,
        "tags": f"{repo}?tab=tags",
        "manifest": f"{repo}/manifest/{digest}",
        "settings": f"{repo}?tab=settings",
        "logs": f"{repo}?tab=logs",
        "organization-teams": "/organization/shipyard?tab=teams",
        "organization-members": "/organization/shipyard?tab=teams&view=members",
        "history": f"{repo}?tab=history",
        "notifications": "/notifications",
        "robots": "/organization/shipyard?tab=robots",
        "robot-credentials": "/organization/shipyard/robots/deployer?credentials=1",
        "account": "/user/admin?tab=settings",
        "superuser": "/superuser",
    }
    too_wide = {}
    for name, path in pages.items():
        page.goto(server.url + path)
        page.wait_for_selector("main")
        shot(name)
        found = page.evaluate(_OVERFLOW)
        if found["scroll"] > 0 or found["wide"]:
            too_wide[name] = found
    assert not too_wide, too_wide


def _right_edges(page: Page, selector: str) -> list[float]:
    return list(
        page.eval_on_selector_all(selector, "els => els.map((el) => el.getBoundingClientRect().right)")
    )


def test_phone_header_tabs_commands_and_digests(browser: Browser, server: Server) -> None:
    with admin_api(server) as api:
        assert (
            api.post("/organization/", json={"name": "harbour", "email": "h@example.com"}).status_code == 201
        )
        made = api.post(
            "/repository",
            json={"namespace": "harbour", "repository": "api", "visibility": "public", "description": ""},
        )
        assert made.status_code == 201, made.text
    digest = push_tiny_image(server, "harbour/api", "latest")
    page = browser.new_page(viewport=PHONE, is_mobile=True)
    shot = Shots(page, "phone-chrome")
    header = page.locator("header.top")

    # signed out, one row with its Sign in link (no menu for one link)
    page.goto(f"{server.url}/")
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_have_count(0)
    box = header.bounding_box()
    assert box is not None and box["height"] <= 64, box
    shot("signed-out")

    # one row: the brand, the search box and the menu button; Sign out is behind the menu
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    box = header.bounding_box()
    assert box is not None and box["height"] <= 64, box
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    shot("menu-open")
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()

    # the organization's seven tabs: one row that scrolls, with a shadow at the edge as the cue
    page.goto(f"{server.url}/organization/harbour?tab=teams")
    tabs = page.locator("nav.tabs")
    expect(tabs).to_be_visible()
    bar = tabs.evaluate(
        "el => ({scroll: el.scrollWidth, width: el.clientWidth, height: el.offsetHeight,"
        " tab: el.querySelector('a').offsetHeight, cue: getComputedStyle(el).backgroundImage})"
    )
    assert bar["scroll"] > bar["width"], bar
    assert bar["height"] < 2 * bar["tab"], bar  # one row
    assert "radial-gradient" in bar["cue"], bar
    shot("organization-tabs")
    tabs.get_by_role("link", name="Settings").click()
    page.wait_for_url("**tab=settings")
    # the current tab is scrolled into view
    current = page.locator("nav.tabs a.current").bounding_box()
    assert current is not None and current["x"] >= 0 and current["x"] + current["width"] <= PHONE["width"], (
        current
    )

    # the Information tab: every Copy button in view
    page.goto(f"{server.url}/repository/harbour/api")
    page.wait_for_selector(".command button")
    rights = _right_edges(page, ".command button")
    assert rights and max(rights) <= PHONE["width"], rights
    shot("information")

    # the manifest page: the digest shortened, in full on a tap
    page.goto(f"{server.url}/repository/harbour/api/manifest/{digest}")
    short = page.locator("dl.facts .digest code")
    expect(short).to_have_text(digest[: len("sha256:") + 12])
    short.click()
    expect(short).to_have_text(digest)
    shot("manifest-digest-in-full")
    short.click()
    expect(short).to_have_text(digest[: len("sha256:") + 12])

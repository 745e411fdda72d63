"""Accessibility of the main pages in Chromium: axe-core (npm, injected by playwright, see
tests/e2e/browser.py) finds no serious or critical violation, and the header's menu and the
dialogs work from the keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import serious_violations, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api
from tests.e2e.tiny_image import push_tiny_image

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


def _world(server: Server) -> str:
    """An organization with a team and a repository with a tag, a global message, and the
    manifest's digest."""
    with admin_api(server) as api:
        assert api.post("/organization/", json={"name": "dock", "email": "d@example.com"}).status_code == 201
        team = api.put("/organization/dock/team/builders", json={"role": "member", "description": "CI"})
        assert team.status_code == 200, team.text
        made = api.post(
            "/repository",
            json={
                "namespace": "dock",
                "repository": "app",
                "visibility": "public",
                "description": "# App\n\nBuilt by **CI**.",
            },
        )
        assert made.status_code == 201, made.text
        message = {
            "message": {
                "content": "Maintenance **tonight**",
                "media_type": "text/markdown",
                "severity": "warning",
            }
        }
        assert api.post("/messages", json=message).status_code == 201
        assert api.put("/organization/dock/robots/ci").status_code in (200, 201)
    return push_tiny_image(server, "dock/app", "v1")


def test_main_pages_have_no_serious_accessibility_violation(browser: Browser, server: Server) -> None:
    digest = _world(server)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    repo = "/repository/dock/app"
    anonymous = {"home-anonymous": "/", "signin": "/signin", "missing": "/no/such/page"}
    signed_in = {
        "home": "/",
        "repository": repo,
        "tags": f"{repo}?tab=tags",
        "history": f"{repo}?tab=history",
        "manifest": f"{repo}/manifest/{digest}",
        "repository-settings": f"{repo}?tab=settings",
        "organization": "/organization/dock",
        "organization-teams": "/organization/dock?tab=teams",
        "organization-members": "/organization/dock?tab=teams&view=members",
        "team": "/organization/dock/teams/builders",
        "robots": "/organization/dock?tab=robots",
        "robot-credentials": "/organization/dock/robots/ci?credentials=1",
        "account": "/user/admin?tab=settings",
        "notifications": "/notifications",
        "superuser": "/superuser",
        "superuser-messages": "/superuser?tab=messages",
    }
    found = {}
    for name, path in anonymous.items():
        page.goto(server.url + path)
        page.wait_for_selector("main")
        if violations := serious_violations(page):
            found[name] = violations
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    # a wide screen shows the account links themselves, not the phone's menu
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    for name, path in signed_in.items():
        page.goto(server.url + path)
        page.wait_for_selector("main")
        if violations := serious_violations(page):
            found[name] = violations
    lines = [
        f"{name}: {v['id']} ({v['impact']}): {v['help']}: {v['nodes']}"
        for name, vs in found.items()
        for v in vs
    ]
    assert not found, "\n".join(lines)


def test_phone_menu_works_from_the_keyboard(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, bypass_csp=True)
    page = context.new_page()
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#site-menu a").first).to_be_focused()
    assert not serious_violations(page)
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


_DIALOG = """() => {
  const main = document.querySelector('main');
  main.insertAdjacentHTML('beforeend',
    '<button type="button" data-dialog-open="try-dialog">Open the dialog</button>' +
    '<dialog id="try-dialog" aria-labelledby="try-title"><h2 id="try-title">A dialog</h2>' +
    '<label>Name <input name="name"></label>' +
    '<div class="dialog-actions"><button type="button" data-dialog-close>Cancel</button></div></dialog>');
}"""

# Every coloured badge, where axe checks its contrast (no page shows them all at once).
_BADGES = """() => {
  const kinds = ['public', 'private', 'info', 'warning', 'error', 'warn', 'role-admin', 'role-write',
    'role-read', 'sev-critical', 'sev-high', 'sev-medium', 'sev-low', 'sev-negligible', 'sev-unknown'];
  document.querySelector('main').insertAdjacentHTML('beforeend',
    '<p>' + kinds.map((k) => `<span class="badge ${k}">${k}</span>`).join(' ') + '</p>');
}"""


def test_dialogs_open_and_close_from_the_keyboard(browser: Browser, server: Server) -> None:
    """The dialog component (wharf.js): a button with data-dialog-open opens a modal <dialog>
    with focus inside; Escape and its data-dialog-close button close it. And the badges' colours
    pass axe's contrast check."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.evaluate(_DIALOG)
    page.evaluate(_BADGES)
    assert not serious_violations(page)  # the badges' colours too
    opener = page.get_by_role("button", name="Open the dialog")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="A dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    opener.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()


def test_error_page_keeps_the_chrome_and_goes_back_to_the_form(browser: Browser, server: Server) -> None:
    """A form whose target vanished meanwhile gets the error page, with the header, the banner and
    a way back to the form that still holds what was typed."""
    with admin_api(server) as api:
        assert api.post("/organization/", json={"name": "quay", "email": "q@example.com"}).status_code == 201
        team = api.put("/organization/quay/team/deployers", json={"role": "member"})
        assert team.status_code == 200, team.text
        message = {
            "message": {"content": "Read-only at noon", "media_type": "text/plain", "severity": "info"}
        }
        assert api.post("/messages", json=message).status_code == 201
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/organization/quay/teams/deployers")
    page.get_by_label("User or robot").fill("somebody")
    with admin_api(server) as api:
        assert api.delete("/organization/quay/team/deployers").status_code == 204
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("not found")
    expect(page.locator("header.top")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Read-only at noon")
    page.get_by_role("link", name="Back to the form").click()
    page.wait_for_url("**/organization/quay/teams/deployers")
    expect(page.get_by_label("User or robot")).to_have_value("somebody")

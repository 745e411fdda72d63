"""The web UI in a real browser (Debian's Chromium, driven by playwright) against a real server,
with images pushed by skopeo. Screenshots: see tests/e2e/browser.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    CLIENT_TOOLS,
    SERVER_KIND,
    Clients,
    Server,
    creds_args,
    require_tools,
)

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


def test_sign_in_create_push_browse_sign_out(
    browser: Browser, server: Server, clients: Clients, images: BuiltImages
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    shot = Shots(page, "sign_in_create_push_browse")

    page.goto(f"{server.url}/")
    shot("home-anonymous")
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    shot("signin-refused")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    expect(page.get_by_role("heading", name="Your repositories")).to_be_visible()
    shot("home-empty")

    # create a private repository with a Markdown description
    page.get_by_role("link", name="+ New repository").click()
    page.get_by_label("Name", exact=True).fill("webapp")
    page.get_by_label("Private").check()
    page.get_by_label("Description (Markdown)").fill(
        "# Web app\n\nBuilt by **CI**. <script>window.pwned=1</script>"
    )
    shot("new-repository")
    page.get_by_role("button", name="Create repository").click()
    page.wait_for_url(re.compile(r".*/repository/admin/webapp$"))
    expect(page.get_by_role("heading", name="Web app")).to_be_visible()
    assert page.evaluate("window.pwned") is None  # the description's script did not run
    expect(page.get_by_text("Nothing to pull yet")).to_be_visible()
    shot("repository-empty")

    # push with skopeo: v1 is busybox, latest a bigger image; the tags appear with pull commands
    ref = f"docker://{server.host}/admin/webapp"
    for source, tag in ((images.busybox_oci, "v1"), (images.layers_oci, "latest")):
        clients.run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            *creds_args(server.creds, "--dest-creds"),
            source,
            f"{ref}:{tag}",
        )
    v1 = clients.skopeo_digest(f"{ref}:v1", server.creds)
    pushed_latest = clients.skopeo_digest(f"{ref}:latest", server.creds)
    page.reload()
    pull = f"podman pull --tls-verify=false {server.host}/admin/webapp"  # plain HTTP: no TLS
    expect(page.get_by_text(f"{pull}:latest")).to_be_visible()
    expect(page.get_by_text(f"{pull}@{pushed_latest}")).to_be_visible()
    shot("repository-info")

    page.get_by_role("link", name="Tags", exact=True).click()
    rows = page.locator("table.tags tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("latest")
    expect(rows.first).to_contain_text(pushed_latest.split(":")[1][:12])
    shot("repository-tags")

    # move latest onto v1's manifest from v1's row, then revert it in the history
    page.on("dialog", lambda dialog: dialog.accept())
    v1_row = rows.filter(has_text="v1")
    v1_row.get_by_role("link", name="Change v1").click()
    panel = page.locator("#change")
    panel.get_by_label("Add or move a tag to this manifest").fill("latest")
    shot("repository-tags-move")
    panel.get_by_role("button", name="Set tag").click()
    expect(page.get_by_role("status")).to_contain_text("Tag latest now points at")
    assert clients.skopeo_digest(f"{ref}:latest", server.creds) == v1
    shot("repository-tags-moved")

    page.get_by_role("link", name="Tag history").click()
    expect(page.locator(".timeline li")).to_have_count(3)
    shot("repository-history")
    ended = page.locator(".timeline li.ended").filter(has_text="latest")
    ended.get_by_role("link", name="Revert or delete this entry of latest").click()
    page.get_by_role("button", name="Revert latest to this").click()
    expect(page.get_by_role("status")).to_contain_text("points at")
    assert clients.skopeo_digest(f"{ref}:latest", server.creds) == pushed_latest
    shot("repository-history-reverted")

    # the home page lists it; signed out, the private repository is gone
    page.get_by_role("link", name="Wharf").click()
    expect(page.get_by_role("link", name="admin/webapp")).to_be_visible()
    shot("home-with-repository")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/signin")
    page.goto(f"{server.url}/?q=webapp")
    expect(page.get_by_text("No repository you can see matches")).to_be_visible()
    page.goto(f"{server.url}/repository/admin/webapp")
    expect(page).to_have_url(re.compile(r".*/signin\?redirect_url=.*"))
    shot("private-repository-asks-for-sign-in")

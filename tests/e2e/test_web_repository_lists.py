"""The home page's repository list in a real browser against a real server holding 310
repositories: 50 rows a page with the total, paging forward and back, and a filter that narrows
the list and survives paging. Screenshots: tests/e2e/browser.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

COUNT = 310


def test_page_and_filter_310_repositories_on_the_home_page(browser: Browser, server: Server) -> None:
    with admin_api(server) as api:
        for i in range(COUNT):
            body = {
                "namespace": "admin",
                "repository": f"svc-{i:03}",
                "visibility": "public" if i % 2 else "private",
                "description": f"Service number {i}, built **nightly**",
            }
            r = api.post("/repository", json=body)
            assert r.status_code == 201, r.text

    page = browser.new_page(viewport={"width": 1280, "height": 860})
    shot = Shots(page, "repository_lists")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    rows = page.locator("table.repo-table tbody tr")
    total = page.locator(".list-total")
    expect(rows).to_have_count(50)
    expect(total).to_contain_text("310 repositories, showing 1 to 50")
    expect(rows.first).to_contain_text("admin/svc-000")
    expect(rows.first).to_contain_text("Service number 0, built nightly")
    shot("home-page-1")

    page.get_by_role("link", name=re.compile(r"^Next")).click()
    expect(total).to_contain_text("showing 51 to 100")
    expect(rows.first).to_contain_text("admin/svc-050")
    page.get_by_role("link", name=re.compile(r"^Last")).click()
    expect(rows).to_have_count(10)
    expect(page.get_by_text("Page 7 of 7")).to_be_visible()
    shot("home-last-page")

    page.get_by_label("Filter repositories by name").fill("svc-2")
    page.get_by_label("Filter repositories by name").press("Enter")
    expect(total).to_contain_text("100 repositories match “svc-2”, showing 1 to 50")
    expect(rows.first).to_contain_text("admin/svc-200")
    page.get_by_role("link", name=re.compile(r"^Next")).click()
    expect(page).to_have_url(re.compile(r".*q=svc-2.*page=2"))
    expect(total).to_contain_text("showing 51 to 100")
    shot("home-filtered-page-2")

    page.get_by_label("Filter repositories by name").fill("svc-30")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(10)
    page.get_by_role("link", name="Public", exact=True).click()
    expect(total).to_contain_text("5 repositories match “svc-30”")
    expect(rows.first).to_contain_text("admin/svc-301")
    shot("home-public-filtered")
    page.get_by_role("link", name="Clear the filter").click()
    expect(total).to_contain_text("155 repositories, showing 1 to 50")

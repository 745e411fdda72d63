"""A refused form in Chromium: the page comes back with the message next to the field, what was
typed still in it and the focus on it; axe finds nothing serious in that state."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, serious_violations, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server
from tests.e2e.tiny_image import push_tiny_image

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


def test_an_expiration_in_the_past_is_refused_next_to_the_field(browser: Browser, server: Server) -> None:
    push_tiny_image(server, "admin/errs", "v1")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    shot = Shots(page, "form_errors")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    tab = f"{server.url}/repository/admin/errs?tab=tags"
    page.goto(f"{tab}&change=v1#change")
    expires = page.get_by_label("Expires (UTC; empty: never)")
    expires.fill("2020-01-02T03:04")
    with page.expect_response(lambda r: r.url.endswith("/tags/expiration")) as answer:
        page.get_by_role("button", name="Set expiration").click()
    assert answer.value.status == 422

    # the same tab, the panel open, the date still there and described by the message
    expires = page.get_by_label("Expires (UTC; empty: never)")
    expect(expires).to_have_value("2020-01-02T03:04")
    expect(expires).to_have_attribute("aria-invalid", "true")
    expect(expires).to_be_focused()
    message = page.locator(".field-error")
    expect(message).to_contain_text("has passed")
    expect(message).to_contain_text("Pick a date and time in the future")
    expect(expires).to_have_accessible_description(re.compile("has passed"))
    expect(page.get_by_role("heading", name="Change v1")).to_be_visible()
    # the address is the tab's, not the form's: a reload or a bookmark opens the tab
    expect(page).to_have_url(f"{tab}&change=v1")
    shot("expiration-refused")
    assert not serious_violations(page)

    # a bad tag name says what tag names may hold, and keeps what was typed
    new_tag = page.get_by_label("Add or move a tag to this manifest")
    # the browser checks the pattern first; the server's answer is what a script-less client sees
    new_tag.evaluate("el => el.removeAttribute('pattern')")
    new_tag.fill(".hidden")
    page.get_by_role("button", name="Set tag").click()
    new_tag = page.get_by_label("Add or move a tag to this manifest")
    expect(new_tag).to_have_value(".hidden")
    expect(new_tag).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_contain_text("not starting with . or -")
    shot("tag-name-refused")
    assert not serious_violations(page)

    # the page's links are the page's own, though it answered a form
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Information").click()
    expect(page).to_have_url(f"{server.url}/repository/admin/errs?tab=info")
    expect(page.locator(".field-error")).to_have_count(0)


@pytest.mark.parametrize("script", [True, False], ids=["with-js", "without-js"])
def test_the_skip_link_of_a_refused_page_moves_the_focus_only(
    browser: Browser, server: Server, script: bool
) -> None:
    """A refused page has a <base> (its relative links are the page's): its skip link must still
    only move to the content, not load the page again and lose the message and what was typed."""
    push_tiny_image(server, "admin/skip", "v1")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=script)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the delete form's data-confirm
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    settings = f"{server.url}/repository/admin/skip?tab=settings"
    page.goto(settings)
    page.get_by_label("Type admin/skip to confirm").fill("admin/sk")
    with page.expect_response(lambda r: r.url.endswith("/settings/delete")) as answer:
        page.get_by_role("button", name="Delete admin/skip").click()
    assert answer.value.status == 422
    # with wharf.js the address bar shows the page's address, without it the form's
    here = settings if script else f"{server.url}/repository/admin/skip/settings/delete"
    expect(page).to_have_url(here)

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    skip = page.get_by_role("link", name="Skip to the content")
    skip.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{here}#content")
    assert requests == []  # nothing was loaded: the same document, scrolled to its content
    confirm = page.get_by_label("Type admin/skip to confirm")
    expect(confirm).to_have_value("admin/sk")
    expect(page.locator(".field-error")).to_contain_text("type admin/skip exactly")
    context.close()


def test_an_application_address_and_a_federation_row_are_refused_in_place(
    browser: Browser, server: Server
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    shot = Shots(page, "form_errors_org")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/organizations/new/")
    page.get_by_label("Organization name").fill("formerrs")
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_url(re.compile(r".*/organization/formerrs\?tab=teams$"))

    # an OAuth application's redirect address that is not http(s): said next to it, all kept
    page.goto(f"{server.url}/organization/formerrs?tab=applications")
    page.get_by_label("Application name").fill("CI")
    redirect = page.get_by_label("Redirect/callback address (optional)")
    redirect.fill("ftp://ci.example/cb")
    with page.expect_response(lambda r: r.url.endswith("/applications/new")) as answer:
        page.get_by_role("button", name="Create application").click()
    assert answer.value.status == 422
    redirect = page.get_by_label("Redirect/callback address (optional)")
    expect(redirect).to_have_value("ftp://ci.example/cb")
    expect(redirect).to_be_focused()
    expect(redirect).to_have_accessible_description(re.compile("http:// or https://"))
    expect(page.get_by_label("Application name")).to_have_value("CI")
    shot("application-refused")
    assert not serious_violations(page)

    # a robot's federation row without a subject: that row's field, the rows as typed
    page.goto(f"{server.url}/organization/formerrs?tab=robots")
    page.get_by_label("Robot name").fill("ci")
    page.get_by_role("button", name="Create robot account").click()
    page.wait_for_url(re.compile(r".*/organization/formerrs/robots/ci\?credentials=1$"))
    page.get_by_label("Issuer URL").nth(1).fill("https://token.actions.githubusercontent.com")
    with page.expect_response(lambda r: r.url.endswith("/federation")) as answer:
        page.get_by_role("button", name="Save federation").click()
    assert answer.value.status == 422
    expect(page.get_by_label("Issuer URL").nth(1)).to_have_value(
        "https://token.actions.githubusercontent.com"
    )
    subject = page.get_by_label("Subject").nth(1)
    expect(subject).to_have_attribute("aria-invalid", "true")
    expect(subject).to_be_focused()
    expect(subject).to_have_accessible_description(re.compile("Each row needs a subject"))
    expect(page.get_by_label("Subject").nth(0)).not_to_have_attribute("aria-invalid", "true")
    shot("federation-refused")
    assert not serious_violations(page)
    context.close()

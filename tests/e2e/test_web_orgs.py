"""Organizations in a real browser against a real server: create an organization, a team with a
member, and a robot account whose podman login command works. Screenshots: tests/e2e/browser.py."""

from __future__ import annotations

import re
import shlex

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Clients, Server, require_tools

require_tools("podman")
if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


def test_create_organization_team_member_and_robot(
    browser: Browser, server: Server, clients: Clients
) -> None:
    # a second user to add to the team (sign-up through the API, as a new colleague would)
    signup = httpx.post(
        f"{server.url}/api/v1/user/",
        json={"username": "dana", "password": "dana-password-1", "email": "dana@example.com"},
        timeout=60,  # /api/v1 is built on its first request: seconds on a busy machine
    )
    assert signup.status_code == 200, signup.text

    page = browser.new_page(viewport={"width": 1280, "height": 860})
    shot = Shots(page, "organization_team_robot")
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, server, "admin", ADMIN_PASSWORD)

    # create the organization from the home page
    page.get_by_role("link", name="+ Create an organization").click()
    page.get_by_label("Organization name").fill("shipyard")
    shot("new-organization")
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_url(re.compile(r".*/organization/shipyard\?tab=teams$"))
    expect(page.get_by_role("status")).to_contain_text("Created organization shipyard")
    expect(page.get_by_role("link", name="owners").first).to_be_visible()
    shot("organization-teams")

    # a team with the creator role, and a member
    page.get_by_label("Team name").fill("builders")
    page.get_by_label(re.compile("creator: members")).check()
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(re.compile(r".*/organization/shipyard/teams/builders$"))
    expect(page.get_by_text("Team builders has no members yet")).to_be_visible()
    # the name field offers users by prefix (getMatchingEntities), besides the organization's robots
    page.get_by_label("User or robot").fill("da")
    expect(page.locator('#org-robots option[value="dana"]')).to_have_count(1)
    page.get_by_label("User or robot").fill("dana")
    page.get_by_role("button", name="Add member").click()
    # dana is in no team of shipyard: invited (FEATURE_REQUIRE_TEAM_INVITE), joins by accepting
    expect(page.get_by_role("status")).to_contain_text("Invited dana to team builders")
    expect(page.locator("ul.team-invites")).to_contain_text("dana")
    shot("team-invitation")
    with browser.new_context(viewport={"width": 1280, "height": 860}) as dana_browser:
        dana = dana_browser.new_page()
        sign_in(dana, server, "dana", "dana-password-1")
        dana.goto(f"{server.url}/notifications")
        expect(dana.locator("ul.inbox")).to_contain_text(
            "admin invites you to join team builders of shipyard"
        )
        dana.get_by_role("button", name="Accept").click()
        dana.wait_for_url(re.compile(r".*/organization/shipyard/teams/builders$"))
        expect(dana.get_by_role("status")).to_contain_text("You joined team builders of shipyard")
    page.reload()
    expect(page.locator("ul.orgs")).to_contain_text("dana")
    shot("team-with-member")

    # the Members view: every member with their teams; Remove opens for one row only
    page.goto(f"{server.url}/organization/shipyard?tab=teams")
    page.get_by_role("navigation", name="Teams or members").get_by_role("link", name="Members").click()
    expect(page.locator("p.list-total")).to_contain_text("2 members")
    page.get_by_role("link", name="Remove dana from shipyard").click()
    expect(page.get_by_role("button", name="Remove from shipyard")).to_have_count(1)
    shot("organization-members")
    page.goto(f"{server.url}/organization/shipyard/teams/builders")

    # a robot account; its page shows the login command, which podman accepts
    page.get_by_role("link", name="shipyard").first.click()
    page.get_by_role("link", name="Robot accounts").click()
    expect(page.get_by_text("shipyard has no robot accounts yet")).to_be_visible()
    shot("robots-empty")
    page.get_by_label("Robot name").fill("deployer")
    page.get_by_label("Description (optional)").fill("Deploys from CI")
    page.get_by_role("button", name="Create robot account").click()
    page.wait_for_url(re.compile(r".*/organization/shipyard/robots/deployer\?credentials=1$"))
    page.locator(".credentials summary", has_text="Podman login").click()
    login = page.locator(".credentials .command code").filter(has_text="podman login")
    expect(login).to_be_visible()
    shot("robot-credentials")
    command = shlex.split(login.inner_text())
    assert command[:5] == ["podman", "login", "--tls-verify=false", "-u", "shipyard+deployer"]
    assert command[-1] == server.host
    clients.run(*command)

    # the robot is listed on the Robot accounts tab
    page.get_by_role("link", name="shipyard").first.click()
    page.get_by_role("link", name="Robot accounts").click()
    expect(page.get_by_role("link", name="shipyard+deployer")).to_be_visible()
    shot("robots-listed")

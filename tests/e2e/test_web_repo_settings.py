"""The repository's Settings and Usage logs tabs in a real browser: give a team read access, then see
the push and the team member's pull (both made by skopeo) in the usage logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Clients, Server, admin_api, require_tools
from tests.waiting import wait_until

require_tools("skopeo")
if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_settings() -> dict[str, str]:
    # The admin puts a fresh user straight into a team: invitations (Quay's default) are tested
    # in tests/integration/*/test_team_invites.py.
    return {"WHARF_FEATURE_REQUIRE_TEAM_INVITE": "false"}


ORG, TEAM, USER = "shipyard", "viewers", "viewer"
REPO = f"{ORG}/app"


def test_give_a_team_read_access_and_see_push_and_pull_in_the_logs(
    browser: Browser, server: Server, clients: Clients, images: BuiltImages, tmp_path: Path
) -> None:
    clients.allow(server.host)
    with admin_api(server) as api:
        assert (
            api.post("/organization/", json={"name": ORG, "email": f"{ORG}@example.com"}).status_code == 201
        )
        made = api.post("/superuser/users/", json={"username": USER, "email": f"{USER}@example.com"})
        assert made.status_code == 200, made.text
        password = made.json()["password"]
        assert api.put(f"/organization/{ORG}/team/{TEAM}", json={"role": "member"}).status_code == 200
        assert api.put(f"/organization/{ORG}/team/{TEAM}/members/{USER}").status_code == 200
    ref = f"docker://{server.host}/{REPO}:v1"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        images.busybox_oci,
        ref,
    )

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    shot = Shots(page, "repo_settings_team_read_logs")
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/repository/{REPO}")
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(re.compile(r".*\?tab=settings$"))
    expect(page.get_by_text("Only the organization's admins can use this repository now")).to_be_visible()
    shot("settings-no-permissions")

    # the team cannot pull yet
    pulled = tmp_path / "pulled"
    refused = clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"{USER}:{password}",
        ref,
        f"oci:{pulled}",
        check=False,
    )
    assert refused.returncode != 0

    add_team = page.locator("form").filter(has=page.get_by_role("button", name="Add team"))
    add_team.get_by_label("Team").select_option(TEAM)
    add_team.get_by_label("Role").select_option("read")
    shot("settings-add-team")
    add_team.get_by_role("button", name="Add team").click()
    expect(page.get_by_role("status")).to_contain_text(f"Team {TEAM} now has the read role on {REPO}")
    expect(page.locator("table.permissions")).to_contain_text(TEAM)
    shot("settings-team-added")

    # the notification form shows the fields of the method and event picked, and nothing else
    create = page.locator("form").filter(has=page.get_by_role("button", name="Create notification"))
    url, target = create.get_by_label("Webhook or Slack: URL"), create.get_by_label("named")
    create.get_by_label("Send it by").select_option("slack")
    expect(url).to_be_visible()
    expect(target).to_be_hidden()
    expect(create.get_by_label("Webhook body")).to_be_hidden()
    expect(create.get_by_text("Only some events")).to_be_hidden()
    create.get_by_label("When this happens").select_option("repo_image_expiry")
    expect(create.get_by_label("Tags about to expire: days ahead")).to_be_visible()
    expect(create.get_by_label("Builds: git ref matches")).to_be_hidden()
    create.get_by_label("Send it by").select_option("quay_notification")
    expect(url).to_be_hidden()
    target.fill("admin")
    shot("settings-new-notification")
    create.get_by_role("button", name="Create notification").click()
    expect(page.get_by_role("status")).to_contain_text("Added the notification")
    expect(page.locator("#notifications p.list-total")).to_have_text("1 notification")
    shot("settings-notification-listed")

    # now the team's member pulls the image
    clients.run(
        "skopeo", "copy", "--src-tls-verify=false", "--src-creds", f"{USER}:{password}", ref, f"oci:{pulled}"
    )

    page.get_by_role("link", name="Usage logs").click()

    # pulls are written to the log in batches, off the request's path: wait for the batch
    def logged() -> bool:
        if f"{USER} pulled tag v1 of {REPO}" in page.content():
            return True
        page.reload()
        return False

    wait_until(logged, "the pull in the usage logs", timeout_s=30, interval_s=1)
    entries = page.locator("table.log-entries")
    expect(entries).to_contain_text(f"{USER} pulled tag v1 of {REPO}")
    expect(entries).to_contain_text(f"admin pushed tag v1 of {REPO}")
    expect(entries).to_contain_text(f"admin gave team {TEAM} the read role on {REPO}")
    expect(page.locator("svg.log-chart rect.pull")).to_have_count(1)
    expect(page.locator("svg.log-chart rect.push")).to_have_count(1)
    shot("usage-logs")

    page.get_by_label("Filter").fill(USER)
    page.get_by_role("button", name="Show").click()
    # the pull, the refused pull before the grant (twice: its 401 sends the client for a new
    # token, which cannot help, and it asks again), and the grant to the team named after viewers
    expect(entries.locator("tbody tr")).to_have_count(4)
    expect(entries).to_contain_text(f"{USER} failed to pull v1 from {REPO} (UNAUTHORIZED)")
    expect(entries).not_to_contain_text("admin pushed")
    shot("usage-logs-filtered")

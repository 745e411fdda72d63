"""Retention policies with real clients and a real browser: an immutability policy freezes `v1`
as skopeo pushes it and skopeo's next push over it fails with the registry's message; an
auto-prune policy added on the repository's Settings tab shows its preview and the server's job
prunes the tag it names."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Clients, Server, admin_api, require_tools
from tests.waiting import wait_until

require_tools("skopeo")
if SERVER_KIND != "wharf":
    pytest.skip("retention policies are Wharf's (Quay's API)", allow_module_level=True)

pytestmark = pytest.mark.e2e

REPO = "admin/e2e-retention"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"WHARF_FEATURE_AUTO_PRUNE": "true", "WHARF_FEATURE_IMMUTABLE_TAGS": "true"}


def _tags(api: httpx.Client) -> dict[str, bool]:
    r = api.get(f"/repository/{REPO}/tag/", params={"onlyActiveTags": "true"})
    assert r.status_code == 200, r.text
    return {t["name"]: t["immutable"] for t in r.json()["tags"]}


def test_a_frozen_tag_refuses_a_push_and_a_policy_prunes(
    browser: Browser, server: Server, clients: Clients, images: BuiltImages
) -> None:
    clients.allow(server.host)

    def push(image: str, tag: str, check: bool = True) -> str:
        done = clients.run(
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"admin:{ADMIN_PASSWORD}",
            image,
            f"docker://{server.host}/{REPO}:{tag}",
            check=check,
        )
        return done.stderr

    push(images.busybox_oci, "old")
    push(images.busybox_oci, "latest")
    with admin_api(server) as api:
        r = api.post(f"/repository/{REPO}/immutabilitypolicy/", json={"tagPattern": "^v[0-9]+$"})
        assert r.status_code == 201, r.text
        push(images.busybox_oci, "v1")
        assert _tags(api)["v1"] is True
        refused = push(images.layers_oci, "v1", check=False)
        assert "is immutable" in refused and "push under another tag" in refused, refused

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        shot = Shots(page, "retention_policies")
        sign_in(page, server, "admin", ADMIN_PASSWORD)
        page.goto(f"{server.url}/repository/{REPO}?tab=settings")
        expect(page.get_by_role("heading", name="Tag retention")).to_be_visible()
        page.get_by_text("Add an auto-prune policy").click()
        add = page.locator("form").filter(has=page.get_by_role("button", name="Add auto-prune policy"))
        add.get_by_label("Method").select_option("number_of_tags")
        add.get_by_label("N or age").fill("1")
        add.get_by_role("button", name="Add auto-prune policy").click()
        page.wait_for_url(re.compile(r".*\?tab=settings#retention$"))
        expect(page.get_by_role("status")).to_contain_text("Added the auto-prune policy")
        shot("policy-added")
        # the job the new policy queued runs in the server: "old" goes, v1 (immutable) and the
        # newest mutable tag stay
        wait_until(lambda: "old" not in _tags(api), "the auto-prune job to run", interval_s=0.5)
        assert _tags(api) == {"latest": False, "v1": True}
        page.reload()
        expect(page.get_by_text("Nothing: no tag would be deleted or made immutable.")).to_be_visible()
        shot("nothing-left-to-do")

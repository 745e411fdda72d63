"""The Tags tab with 2,100 tags in a real browser: pages of 50 with the total and a pager, the
filter (prefix and glob), a sort link, the per-tag panel opened from a row, and the copy button
putting the chosen client's pull command on the clipboard; then the paged, filtered tag history
with a revert opened from a row."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, server_database
from wharf.core import clock as domain_clock
from wharf.core import manifests, repositories, tags
from wharf.db.engine import Db
from wharf.oci.digest import Digest

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

REPO = "admin/fleet"
COUNT = 2100
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _push_tags(server: Server) -> str:
    """One small image, pushed over /v2 as clients push it, under COUNT tags (`app-00000` ...,
    each a millisecond newer than the one before); its digest. The tags are written into the
    server's database by the domain's own function (the one a manifest PUT calls), in one
    transaction: 2,100 PUTs over HTTP took most of the test's time, and the browser is what is
    tested here."""
    headers = server.auth_headers(f"repository:{REPO}:pull,push")
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"not really a tar"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(Digest.of(layer)),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    digest = str(Digest.of(manifest))
    with httpx.Client(base_url=f"{server.url}/v2/{REPO}", headers=headers, timeout=60) as http:
        for blob in (config, layer):
            r = http.post(
                f"/blobs/uploads/?digest={Digest.of(blob)}",
                content=blob,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert r.status_code == 201, r.text
        r = http.put(f"/manifests/{digest}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text

    def tag_all(db: Db) -> None:
        repo = repositories.get(db, *REPO.split("/"))
        assert repo is not None
        manifest_id = db.execute(manifests.id_by_digest(repo.id, digest)).scalar_one()
        for i in range(COUNT):
            domain_clock.advance(0.001)  # one tag a millisecond, the last one now
            tags.point(db, repo.id, f"app-{i:05d}", manifest_id)

    database = server_database(server)
    domain_clock.advance(-(COUNT + 1) / 1000)
    try:
        database.run_write(tag_all)
    finally:
        domain_clock.reset()
        database.dispose()
    return digest


def test_page_filter_sort_change_and_copy_a_pull_command(browser: Browser, server: Server) -> None:
    digest = _push_tags(server)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    shot = Shots(page, "tags_tab")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/repository/{REPO}?tab=tags")
    rows = page.locator("table.tags tbody tr")
    expect(rows).to_have_count(50)
    expect(page.locator(".tag-count")).to_contain_text("2100 tags")
    expect(page.get_by_text("Page 1 of 42")).to_be_visible()
    shot("first-page")

    page.get_by_role("link", name=re.compile(r"^Next")).click()
    expect(page.get_by_text("Page 2 of 42")).to_be_visible()
    expect(rows.first).to_contain_text("app-00050")

    # a prefix, then a glob; the value stays in the box
    page.get_by_label("Filter by name").fill("app-0209")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(10)
    expect(page.locator(".tag-count")).to_contain_text("10 tags matching")
    expect(page.get_by_label("Filter by name")).to_have_value("app-0209")
    page.get_by_label("Filter by name").fill("*-0000?")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("app-00000")
    shot("filtered")

    # sort by name, Z to A, within the filter
    page.locator("table.tags thead").get_by_role("link", name=re.compile(r"^Tag")).click()
    expect(rows.first).to_contain_text("app-00009")
    expect(page.get_by_label("Filter by name")).to_have_value("*-0000?")

    # copy the pull command: podman by tag, then docker by digest
    rows.first.get_by_role("button", name="Copy the pull command of app-00009").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"podman pull --tls-verify=false {server.host}/{REPO}:app-00009"
    page.get_by_label("Pull with").select_option("docker")
    page.wait_for_url(re.compile(r".*client=docker.*"))
    page.get_by_label("by", exact=True).select_option("digest")
    page.wait_for_url(re.compile(r".*by=digest.*"))
    rows.first.get_by_role("button", name="Copy the pull command of app-00009").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"docker pull {server.host}/{REPO}@{digest}"
    shot("docker-by-digest")

    # the panel of one tag, opened from its row; deleting returns to the same filtered page
    page.on("dialog", lambda dialog: dialog.accept())
    rows.filter(has_text="app-00003").get_by_role("link", name="Change app-00003").click()
    panel = page.locator("#change")
    expect(panel).to_contain_text("Change app-00003")
    shot("panel")
    panel.get_by_role("button", name="Delete app-00003").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted tag app-00003")
    expect(rows).to_have_count(9)
    expect(page.get_by_label("Filter by name")).to_have_value("*-0000?")

    # the Information tab pulls the newest tag, in the client chosen here
    page.get_by_role("link", name="Information").click()
    expect(page.get_by_text(f"docker pull {server.host}/{REPO}:app-02099")).to_be_visible()
    shot("information")

    # the tag history: 2,101 lifetimes in pages of 50, filtered; app-00003's deleted lifetime is
    # reverted from its row's panel, back on the same filtered page
    page.get_by_role("link", name="Tag history").click()
    entries = page.locator(".timeline li")
    expect(entries).to_have_count(50)
    expect(page.locator("p.list-total")).to_contain_text("2100 entries, 1 to 50 shown")
    page.get_by_role("link", name=re.compile(r"^Next")).click()
    expect(page.get_by_text("Page 2 of 42")).to_be_visible()
    page.get_by_label("Filter by tag").fill("app-0000")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(10)
    expect(page.locator("p.list-total")).to_contain_text("10 entries matching")
    ended = entries.filter(has_text="app-00003")
    ended.get_by_role("link", name="Revert or delete this entry of app-00003").click()
    shot("history-entry-open")
    page.get_by_role("button", name="Revert app-00003 to this").click()
    expect(page.get_by_role("status")).to_contain_text("Tag app-00003 points at")
    expect(page.get_by_label("Filter by tag")).to_have_value("app-0000")
    expect(entries).to_have_count(11)
    shot("history-reverted")
    context.close()

"""Security scanning in Chromium (issue 16): a server configured with a directory of real OSV
records indexes a pushed Debian image and matches it on its own (its jobs); the Tags tab's
Security column shows the counts with their coloured bar, its link opens the manifest's security
page, whose severity filter, "fixable only" box, sorting and Packages view work in the browser,
and which axe finds no serious violation on."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, serious_violations, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api, sha256_digest
from tests.integration.jobs import osv_samples
from tests.unit.secscan.samples import DEBIAN_OS_RELEASE, DPKG_OPENSSL, DPKG_STATUS
from tests.waiting import wait_until

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

REPO = "dock/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def server_settings(tmp_path: Path) -> dict[str, str]:
    osv = tmp_path / "osv"
    osv.mkdir()
    for record in osv_samples.RECORDS:
        (osv / f"{record['id']}.json").write_text(json.dumps(record))
    return {
        "WHARF_SECURITY_SCANNER_VULN_SOURCES": json.dumps([str(osv)]),
        "WHARF_SECURITY_SCANNER_INDEXING_INTERVAL": "1",
    }


def _layer(files: dict[str, str]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), sha256_digest(raw.getvalue())


def _push_debian(server: Server, tag: str) -> str:
    """A two-layer Debian 12 image (the second installs libssl3) pushed over /v2; its digest."""
    layers = [
        _layer({"etc/os-release": DEBIAN_OS_RELEASE, "var/lib/dpkg/status": DPKG_STATUS}),
        _layer({"var/lib/dpkg/status": DPKG_STATUS + DPKG_OPENSSL}),
    ]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
            "history": [{"created_by": "ADD rootfs.tar /"}, {"created_by": "RUN apt-get install -y libssl3"}],
        }
    ).encode()
    headers = server.auth_headers(f"repository:{REPO}:pull,push")
    with httpx.Client(base_url=f"{server.url}/v2/{REPO}", headers=headers, timeout=30) as http:
        for blob in [config, *(b for b, _ in layers)]:
            r = http.post(f"/blobs/uploads/?digest={sha256_digest(blob)}", content=blob)
            assert r.status_code == 201, r.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha256_digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": sha256_digest(b),
                        "size": len(b),
                    }
                    for b, _ in layers
                ],
            }
        ).encode()
        r = http.put(f"/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
    return sha256_digest(manifest)


def _matched(api: httpx.Client, digest: str) -> bool:
    r = api.get(f"/repository/{REPO}/manifest/{digest}/security")
    if r.status_code != 200 or r.json()["status"] != "scanned":
        return False
    features = r.json()["data"]["Layer"]["Features"]
    return sum(len(f["Vulnerabilities"]) for f in features) == 2


def test_security_column_and_page(browser: Browser, server: Server) -> None:
    with admin_api(server) as api:
        assert api.post("/organization/", json={"name": "dock", "email": "d@example.com"}).status_code == 201
        made = api.post(
            "/repository",
            json={"namespace": "dock", "repository": "app", "visibility": "private", "description": ""},
        )
        assert made.status_code == 201, made.text
        digest = _push_debian(server, "bookworm")
        wait_until(lambda: _matched(api, digest), "the image indexed and matched by the server's jobs")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    shot = Shots(page, "web-security")
    sign_in(page, server, "admin", ADMIN_PASSWORD)

    page.goto(f"{server.url}/repository/{REPO}?tab=tags")
    expect(page.get_by_role("columnheader", name="Security")).to_be_visible()
    summary = page.get_by_role("link", name=re.compile(r"^2 vulnerabilities: ?1 High ?, ?1 Medium$"))
    expect(summary).to_be_visible()
    bar = summary.locator("svg.sec-bar rect")
    expect(bar).to_have_count(2)
    # The bar's colours come from the stylesheet: High's segment is High's colour.
    high_fill = bar.first.evaluate("el => getComputedStyle(el).fill")
    badge_bg = page.locator(".sec-counts .badge.sev-high").first.evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert high_fill == badge_bg, (high_fill, badge_bg)
    assert serious_violations(page) == []
    shot("tags-security-column")

    summary.click()
    page.wait_for_url(f"**/manifest/{digest}/security")
    expect(page.get_by_role("heading", name="Security of")).to_be_visible()
    rows = page.locator("table.sec-vulns tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("DEBIAN-CVE-2024-2961")
    expect(rows.nth(1)).to_contain_text("libssl3")
    expect(rows.nth(1)).to_contain_text("3.0.13-1~deb12u1")
    expect(rows.nth(1)).to_contain_text("RUN apt-get install -y libssl3")
    assert serious_violations(page) == [], "the security page"
    shot("security-page")

    page.get_by_label("Severity").select_option("High")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("DEBIAN-CVE-2024-2961")
    page.get_by_label("Severity").select_option("Critical")
    page.get_by_label("Fixable only").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No vulnerability matches the filter")).to_be_visible()
    page.get_by_role("link", name="Show them all").click()
    expect(rows).to_have_count(2)

    page.get_by_role("link", name="Vulnerability", exact=True).click()
    expect(rows.first).to_contain_text("DEBIAN-CVE-2024-0727")
    page.get_by_role("link", name="Packages (4)").click()
    packages = page.locator("table.sec-packages tbody tr")
    expect(packages).to_have_count(4)
    expect(packages.last).to_contain_text("libssl3")
    assert serious_violations(page) == [], "the packages view"
    shot("security-packages")

    page.goto(f"{server.url}/repository/{REPO}")
    expect(page.locator(".info-security")).to_contain_text("1 High")
    assert serious_violations(page) == [], "the information tab"

    page.goto(f"{server.url}/superuser?tab=security")
    expect(page.locator("table.sec-sources")).to_contain_text("osv")
    assert serious_violations(page) == [], "the superuser's security tab"
    shot("superuser-security")
    context.close()

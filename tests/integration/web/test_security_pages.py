"""Security scanning in the web UI (issue 16): the Security column of the Tags tab, a manifest's
security page (sorted, filtered, its Packages view) and the superuser's view of the sources."""

from __future__ import annotations

import asyncio
import gzip
import re
from pathlib import Path

import pytest

from tests.conftest import TEST_HOSTNAME
from tests.integration.jobs import osv_samples
from tests.integration.jobs.test_secscan import (
    BASE,
    BROKEN,
    HELM_CONFIG,
    HELM_LAYER,
    OPENSSL,
    drain,
    push_image,
)
from tests.integration.registry_client import sha256
from tests.integration.web_client import Visitor
from tests.integration.world import World
from wharf.config import Settings, load_settings
from wharf.core import secscan as store
from wharf.services import secscan_update as updater

REPO = "acme/app"


def _row(page: str, marker: str) -> str:
    """The table row holding `marker`."""
    for row in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S):
        if marker in row:
            return str(row)
    raise AssertionError(f"no row holds {marker}")


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_the_tags_tab_shows_each_images_security(admin: Visitor, world: World, tmp_path: Path) -> None:
    rt = world.reg.wharf.rt
    image = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    await push_image(
        world.reg, REPO, "chart", [gzip.compress(b"a chart")], config_type=HELM_CONFIG, layer_type=HELM_LAYER
    )
    await push_image(world.reg, REPO, "broken", [BROKEN])
    page = (await admin.get(f"/repository/{REPO}?tab=tags")).text
    assert "<th>Security</th>" in page
    assert "queued" in _text(_row(page, ">debian<"))

    await drain(rt)
    page = (await admin.get(f"/repository/{REPO}?tab=tags")).text
    assert "None found" in _text(_row(page, ">debian<"))
    await asyncio.to_thread(
        updater.update, rt.db, osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    )

    page = (await admin.get(f"/repository/{REPO}?tab=tags")).text
    debian = _row(page, ">debian<")
    assert "1 High" in _text(debian) and "1 Medium" in _text(debian) and "2 fixable" in _text(debian)
    assert 'title="2 vulnerabilities: 1 High, 1 Medium; 2 fixable"' in debian
    assert f'href="/repository/{REPO}/manifest/{image}/security"' in debian
    assert re.search(r'<rect class="sev-high" x="0.00" y="0" width="50.00"', debian)
    assert ">unsupported<" in _row(page, ">chart<")
    assert ">failed<" in _row(page, ">broken<")


async def test_the_security_page_sorts_filters_and_lists_packages(
    admin: Visitor, world: World, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    image = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    url = f"/repository/{REPO}/manifest/{image}/security"
    assert "waiting to be indexed" in (await admin.get(url)).text
    await drain(rt)
    await asyncio.to_thread(
        updater.update, rt.db, osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    )

    r = await admin.get(url)
    assert r.status_code == 200
    assert "2 vulnerabilities in 2 of 4 packages" in _text(r.text)
    order = re.findall(r">(DEBIAN-CVE-[0-9-]+)</a>", r.text)
    assert order == ["DEBIAN-CVE-2024-2961", "DEBIAN-CVE-2024-0727"]  # worst first
    ssl = _text(_row(r.text, "DEBIAN-CVE-2024-0727"))
    assert "libssl3 3.0.11-1~deb12u2 3.0.13-1~deb12u1 #2" in ssl
    assert 'href="https://security-tracker.debian.org/tracker/CVE-2024-0727"' in _row(
        r.text, "DEBIAN-CVE-2024-0727"
    )

    by_package = (await admin.get(url + "?sort=package")).text
    assert re.findall(r">(DEBIAN-CVE-[0-9-]+)</a>", by_package) == [
        "DEBIAN-CVE-2024-2961",
        "DEBIAN-CVE-2024-0727",
    ]
    desc = (await admin.get(url + "?sort=package&order=desc")).text
    assert re.findall(r">(DEBIAN-CVE-[0-9-]+)</a>", desc) == ["DEBIAN-CVE-2024-0727", "DEBIAN-CVE-2024-2961"]
    high = (await admin.get(url + "?severity=High")).text
    assert re.findall(r">(DEBIAN-CVE-[0-9-]+)</a>", high) == ["DEBIAN-CVE-2024-2961"]
    assert "1 shown of 2" in _text(high)
    critical = (await admin.get(url + "?severity=Critical&fixable=1")).text
    assert "No vulnerability matches the filter" in critical

    packages = (await admin.get(url + "?view=packages")).text
    names = re.findall(r"<tr>\s*<td>([a-z0-9.+-]+)</td>", packages)
    assert names == ["base-files", "libblkid1", "libc6", "libssl3"]
    assert "#2" in _row(packages, "<td>libssl3</td>") and "Medium" in _row(packages, "<td>libssl3</td>")
    assert (await admin.get(f"/repository/{REPO}/manifest/sha256:{'0' * 64}/security")).status_code == 404
    manifest_page = (await admin.get(f"/repository/{REPO}/manifest/{image}")).text
    assert f'href="{url}"' in manifest_page


async def test_reader_sees_the_page_and_strangers_do_not(world: World, tmp_path: Path) -> None:
    rt = world.reg.wharf.rt
    image = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    await drain(rt)
    stranger = Visitor(world.reg.wharf)
    try:
        r = await stranger.get(f"/repository/{REPO}/manifest/{image}/security")
        assert r.status_code in (302, 303, 401, 403, 404)
        assert "DEBIAN-CVE" not in r.text
    finally:
        await stranger.close()


async def test_the_superuser_sees_the_sources(admin: Visitor, world: World) -> None:
    rt = world.reg.wharf.rt
    await rt.db.write(
        store.record_source, "https://osv.example/Debian/all.zip", error="HTTP 503 from osv.example"
    )
    await rt.db.write(store.record_source, "/srv/osv/Alpine", imported=12)
    page = (await admin.get("/superuser?tab=security")).text
    failing = _text(_row(page, "https://osv.example/Debian/all.zip"))
    assert "never" in failing and "HTTP 503 from osv.example" in failing
    assert "12" in _text(_row(page, "/srv/osv/Alpine"))
    assert "Vulnerability records" in page


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None, storage_config: dict[str, object]
) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        **storage_config,
        **getattr(request, "param", {}),
    }
    return load_settings(None, overrides, environ={})


@pytest.mark.parametrize("settings", [{"FEATURE_SECURITY_SCANNER": False}], indirect=True)
async def test_with_the_scanner_off_the_column_is_gone(admin: Visitor, world: World) -> None:
    image = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    page = (await admin.get(f"/repository/{REPO}?tab=tags")).text
    assert "<th>Security</th>" not in page and "queued" not in page
    manifest = (await admin.get(f"/repository/{REPO}/manifest/{image}")).text
    assert "/security" not in manifest
    assert (
        "Security scanning is off" in (await admin.get(f"/repository/{REPO}/manifest/{image}/security")).text
    )


async def test_the_information_tab_shows_the_pulled_tags_security(
    admin: Visitor, world: World, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    await push_image(world.reg, REPO, "debian", [BASE, OPENSSL])
    await drain(rt)
    await asyncio.to_thread(
        updater.update, rt.db, osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    )
    page = (await admin.get(f"/repository/{REPO}?tab=info&tag=debian")).text
    assert "Security:" in page and "1 High" in _text(page) and "2 fixable" in _text(page)

"""Storage quotas in the browser: the settings tab's Quota section (members read it, superusers
change it), the superuser panel's Quotas tab, and the stored size on a repository's page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import accounts, quotas


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides: dict[str, Any] = {"DATA_DIR": data_dir, "DB_URI": db_uri, "FEATURE_QUOTA_MANAGEMENT": True}
    return load_settings(None, overrides, environ={})


async def _quota(wharf: WharfApp, name: str) -> quotas.QuotaRecord | None:
    account = await wharf.rt.db.read(accounts.get_by_name, name)
    assert account is not None
    return await wharf.rt.db.read(quotas.quota_of, account.id)


async def test_a_superuser_sets_a_quota_and_its_limits(admin: Visitor, world: World, wharf: WharfApp) -> None:
    await world.reg.push_image("acme/app", "v1")
    page = "/organization/acme?tab=settings"
    r = await admin.get(page)
    assert "Storage quota" in r.text and "it has no quota" in r.text
    r = await admin.submit(page, "/superuser/quotas/acme/set", limit="ten gigs")
    assert r.status_code == 422 and "is not a size such as" in r.text
    r = await admin.submit(page, "/superuser/quotas/acme/set", limit="1 MiB")
    assert r.status_code == 303
    found = await _quota(wharf, "acme")
    assert found is not None and found.limit_bytes == 1024 * 1024
    r = await admin.submit(page, "/superuser/quotas/acme/add_limit", type="Warning", percent="150")
    assert r.status_code == 422 and "between 1 and 100" in r.text
    r = await admin.submit(page, "/superuser/quotas/acme/add_limit", type="Reject", percent="90")
    assert r.status_code == 303
    r = await admin.get(page)
    assert '<meter class="quota-usage"' in r.text and "(pushes refused)" in r.text
    found = await _quota(wharf, "acme")
    assert found is not None
    r = await admin.submit(page, "/superuser/quotas/acme/remove_limit", limit_id=str(found.limits[0].id))
    assert r.status_code == 303
    r = await admin.submit(page, "/superuser/quotas/acme/remove")
    assert r.status_code == 303 and await _quota(wharf, "acme") is None


async def test_members_read_the_quota_and_cannot_change_it(
    admin: Visitor, world: World, wharf: WharfApp
) -> None:
    await admin.submit("/organization/acme?tab=settings", "/superuser/quotas/acme/set", limit="2 MiB")
    owner = Visitor(wharf)
    try:
        await owner.sign_in("owner", PW)
        r = await owner.get("/organization/acme?tab=settings")
        assert "of 2 MiB" in r.text or "of 2.0 MiB" in r.text
        assert "/superuser/quotas/acme/set" not in r.text
        csrf = (await owner.form("/organization/acme?tab=settings", "/organization/acme/settings")).fields
        r = await owner.http.post("/superuser/quotas/acme/set", data={**csrf, "limit": "1 TiB"})
        assert r.status_code == 404  # as every address of the superuser panel answers others
    finally:
        await owner.close()


async def test_the_superuser_panel_lists_namespaces_by_usage(admin: Visitor, world: World) -> None:
    await world.reg.push_image("acme/app", "v1")
    r = await admin.get("/superuser?tab=quotas")
    assert r.status_code == 200
    names = [line for line in r.text.splitlines() if 'class="tag-name"' in line]
    assert "acme" in names[0]  # the only namespace that stores anything comes first
    r = await admin.submit("/superuser?tab=quotas", "/superuser/quotas/acme/set", limit="5 GiB")
    assert r.status_code == 303 and r.headers["location"] == "/superuser?tab=quotas"


async def test_the_repository_page_shows_its_stored_size(admin: Visitor, world: World) -> None:
    await world.reg.push_image("acme/app", "v1")
    r = await admin.get("/repository/acme/app")
    assert "Stored: " in r.text
    r = await admin.get("/organization/acme")
    assert "KiB" in r.text  # the repository rows' size column

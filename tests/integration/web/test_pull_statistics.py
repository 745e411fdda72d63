"""Pull statistics in the web UI: the Tags tab's "Last pulled" and "Pulls" columns and the pull
count of repository rows, after pulls over /v2 that the audit buffer's own loop counted; and the
service the lists read (services/repositories.browse)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.waiting import wait_until_async
from wharf.app import WharfApp
from wharf.auth.identity import Identity
from wharf.config import Settings, load_settings
from wharf.core import accounts
from wharf.services import repositories as repository_service

REPO = "admin/app"


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None, storage_config: dict[str, object]
) -> Settings:
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **storage_config, **getattr(request, "param", {})}
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def flushing(wharf: WharfApp) -> AsyncIterator[None]:
    """The buffer's flushing loop, as `wharf serve` runs it (tests build the app without it)."""
    task = asyncio.create_task(wharf.rt.audit_buffer.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _tag_cells(html: str, tag: str) -> tuple[str, str]:
    """(last pulled, pulls) as the Tags tab's row of `tag` shows them."""
    row = re.search(rf'<td class="tag-name">{re.escape(tag)}[ <].*?</tr>', html, re.S)
    assert row is not None, tag
    last = re.search(r'data-label="Last pulled">(.*?)</td>', row.group(0), re.S)
    pulls = re.search(r'data-label="Pulls">(\d+)</td>', row.group(0))
    assert last is not None and pulls is not None
    return re.sub(r"<[^>]+>", "", last.group(1)).strip(), pulls.group(1)


async def _pull(reg: RegistryClient, reference: str) -> None:
    r = await reg.http.get(f"/v2/{REPO}/manifests/{reference}", headers=await reg.headers(REPO, "pull"))
    assert r.status_code == 200


async def test_tags_tab_and_repository_rows_show_pulls(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp, flushing: None
) -> None:
    await reg.push_image(REPO, "v1")
    await reg.push_image(REPO, "v2")
    html = (await admin.get(f"/repository/{REPO}?tab=tags")).text
    assert "<th>Last pulled</th>" in html and '<th class="num">Pulls</th>' in html
    assert _tag_cells(html, "v1") == ("never", "0")
    for _ in range(2):
        await _pull(reg, "v1")

    async def counted() -> str:
        page = (await admin.get(f"/repository/{REPO}?tab=tags")).text
        return page if _tag_cells(page, "v1")[1] == "2" else ""

    html = await wait_until_async(counted, "the Tags tab to show v1's two pulls")
    last, _ = _tag_cells(html, "v1")
    assert last != "never"
    assert _tag_cells(html, "v2") == ("never", "0")
    # the repository's row on the home page counts every manifest pull
    home = (await admin.get("/")).text
    row = re.search(rf'href="/repository/{REPO}".*?</tr>', home, re.S)
    assert row is not None and 'data-label="Pulls">2</td>' in row.group(0)
    # and so does the service the lists read
    account = await wharf.rt.db.read(accounts.get_by_name, "admin")
    assert account is not None
    found = await repository_service.browse(wharf.rt, Identity("user", account.id, "admin"), contains="app")
    assert [(r.repo.full_name, r.pulls) for r in found.rows] == [(REPO, 2)]


@pytest.mark.parametrize("settings", [{"FEATURE_IMAGE_PULL_STATS": False}], indirect=True)
async def test_without_the_feature_the_columns_are_gone(admin: Visitor, reg: RegistryClient) -> None:
    await reg.push_image(REPO, "v1")
    html = (await admin.get(f"/repository/{REPO}?tab=tags")).text
    assert "Last pulled" not in html and 'data-label="Pulls"' not in html
    assert 'data-label="Pulls"' not in (await admin.get("/")).text

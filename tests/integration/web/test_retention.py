"""The "Tag retention" section of the settings tabs: auto-prune and immutability policies created,
changed and deleted in the browser, refused with the reason, and the preview of a run."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Clock
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.config import Settings, load_settings

REPO = "acme/app"
SETTINGS = f"/repository/{REPO}?tab=settings"
ACTION = f"/repository/{REPO}/retention/"
ORG_SETTINGS = "/organization/acme?tab=settings"
ORG_ACTION = "/organization/acme/retention/"


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "FEATURE_AUTO_PRUNE": True,
        "FEATURE_IMMUTABLE_TAGS": True,
    }
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def owner(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def test_a_repository_policy_from_creation_to_deletion(
    world: World, owner: Visitor, clock: Clock
) -> None:
    for name in ("old", "older", "new"):
        await world.reg.push_image(REPO, name, layers=0)
        clock.advance(1)
    page = (await owner.get(SETTINGS)).text
    assert 'id="retention"' in page and "No auto-prune policy of its own." in page
    # a bad pattern: the page again, the reason next to the field, what was typed kept
    r = await owner.submit(
        SETTINGS, ACTION + "prune-create", method="number_of_tags", value="1", tag_pattern="(old"
    )
    assert r.status_code == 422
    assert "missing ): (old" in html.unescape(r.text) and 'value="(old"' in r.text
    r = await owner.submit(
        SETTINGS, ACTION + "prune-create", method="number_of_tags", value="1", tag_pattern="^old"
    )
    assert r.status_code == 303 and r.headers["location"] == SETTINGS + "#retention"
    page = (await owner.get(SETTINGS)).text
    assert "keep the newest 1, of the tags that match <code>^old</code>" in page
    assert "<code>old</code>" in page  # the preview: "old" would go, "older" stays (newest)
    r = await owner.submit(SETTINGS, ACTION + "prune-update", method="creation_date", value="never")
    assert r.status_code == 422 and "not a duration" in r.text
    r = await owner.submit(SETTINGS, ACTION + "prune-update", method="creation_date", value="2w")
    assert r.status_code == 303
    page = (await owner.get(SETTINGS)).text
    assert "delete tags older than 2w" in page and "Nothing: no tag would be deleted" in page
    r = await owner.submit(SETTINGS, ACTION + "prune-delete")
    assert r.status_code == 303
    assert "No auto-prune policy of its own." in (await owner.get(SETTINGS)).text


async def test_an_organization_immutability_policy_and_its_preview(world: World, owner: Visitor) -> None:
    await world.reg.push_image(REPO, "v1.0", layers=0)
    await world.reg.push_image(REPO, "latest", layers=0)
    r = await owner.submit(ORG_SETTINGS, ORG_ACTION + "freeze-create", tag_pattern="^v[0-9]")
    assert r.status_code == 303, r.text
    page = (await owner.get(ORG_SETTINGS)).text
    assert "tags that match <code>^v[0-9]</code>" in page
    assert "<td>app</td>" in page and "1: <code>v1.0</code>" in page  # would make v1.0 immutable
    # the repository's page shows the namespace's policy as inherited
    assert "From the namespace:" in (await owner.get(SETTINGS)).text
    r = await owner.submit(ORG_SETTINGS, ORG_ACTION + "freeze-update", tag_pattern="v[0-9")
    assert r.status_code == 422 and "missing ]" in r.text


async def test_only_administrators_may_change_policies(wharf: WharfApp, world: World) -> None:
    writer = Visitor(wharf)
    await writer.sign_in("writer", PW)
    try:
        r = await writer.get(SETTINGS)
        assert r.status_code == 403
        token = (await writer.get("/")).text.split('name="_csrf_token" value="', 1)
        data = {"method": "number_of_tags", "value": "1"}
        if len(token) > 1:
            data["_csrf_token"] = token[1].split('"', 1)[0]
        r = await writer.http.post(ACTION + "prune-create", data=data)
        assert r.status_code == 403 and "need the admin role" in r.text
    finally:
        await writer.close()
    # users have auto-prune policies, not immutability policies
    user = Visitor(wharf)
    await user.sign_in("outsider", PW)
    try:
        page = (await user.get("/user/outsider?tab=settings")).text
        assert "Add an auto-prune policy" in page and "Add an immutability policy" not in page
    finally:
        await user.close()

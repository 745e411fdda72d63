"""Changing tags from the web UI: the Tags and Tag history tabs' forms, over core/tag_changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import logs, repositories, tags
from wharf.db.engine import Db

REPO = "admin/webtags"
PAGE = f"/repository/{REPO}"


async def _alive(wharf: WharfApp) -> dict[str, str]:
    repo = await wharf.rt.db.read(repositories.get, "admin", "webtags")
    assert repo is not None
    found = await wharf.rt.db.read(tags.history, repo.id, only_alive=True)
    return {t.name: t.manifest_digest for t in found}


async def _kinds(wharf: WharfApp) -> list[str]:
    def read(db: Db) -> list[str]:
        repo = repositories.get(db, "admin", "webtags")
        assert repo is not None
        scope = logs.Scope(repository_id=repo.id)
        return [e.kind for e in logs.page(db, scope, 0, 2**62, before=None)]

    return await wharf.rt.db.read(read)


async def test_move_delete_expire_revert_and_forget(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    v1, _ = await reg.push_image(REPO, "v1")
    v2, _ = await reg.push_image(REPO, "v2")
    tags_tab = f"{PAGE}?tab=tags"

    # point `stable` at v1, then move it to v2
    # the forms are in the panel a row's "Change…" link opens, one tag at a time
    assert "/tags/point" not in (await admin.get(tags_tab)).text
    form = await admin.form(f"{tags_tab}&change=v1", f"{PAGE}/tags/point")
    r = await admin.http.post(f"{PAGE}/tags/point", data={**form.fields, "digest": v1, "new_tag": "stable"})
    assert r.status_code == 303 and r.headers["location"] == tags_tab
    assert "Tag stable now points at" in (await admin.get(tags_tab)).text  # the flash message
    r = await admin.http.post(f"{PAGE}/tags/point", data={**form.fields, "digest": v2, "new_tag": "stable"})
    assert (await _alive(wharf))["stable"] == v2

    # an expiration in the future, then none
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = await admin.http.post(f"{PAGE}/tags/expiration", data={**form.fields, "tag": "v1", "expires": later})
    assert r.status_code == 303
    page = (await admin.get(tags_tab)).text
    assert "in 2 days" in page or "in 3 days" in page
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = await admin.http.post(f"{PAGE}/tags/expiration", data={**form.fields, "tag": "v1", "expires": past})
    assert r.status_code == 422 and "has passed" in r.text
    r = await admin.http.post(f"{PAGE}/tags/expiration", data={**form.fields, "tag": "v1", "expires": ""})
    assert r.status_code == 303

    # delete stable; the history offers to revert it to v2, and to forget v1's lifetime
    r = await admin.http.post(f"{PAGE}/tags/delete", data={**form.fields, "tag": "stable"})
    assert r.status_code == 303 and "stable" not in await _alive(wharf)
    history = f"{PAGE}?tab=history"
    listed = (await admin.get(history)).text
    assert f"{PAGE}/tags/revert" not in listed  # a row's forms open on demand
    entry = re.findall(r'href="\?tab=history&amp;open=(\d+)#entry"', listed)[0]
    revert = await admin.form(f"{history}&open={entry}", f"{PAGE}/tags/revert")
    r = await admin.http.post(f"{PAGE}/tags/revert", data={**revert.fields, "tag": "stable", "digest": v2})
    assert r.status_code == 303 and r.headers["location"] == history
    assert (await _alive(wharf))["stable"] == v2
    r = await admin.http.post(f"{PAGE}/tags/forget", data={**revert.fields, "tag": "stable", "digest": v1})
    assert r.status_code == 303
    r = await admin.http.post(f"{PAGE}/tags/forget", data={**revert.fields, "tag": "stable", "digest": v1})
    assert r.status_code == 404  # nothing left to forget

    # bad input is shown on the tab, and changes nothing
    r = await admin.http.post(f"{PAGE}/tags/point", data={**form.fields, "digest": "nope", "new_tag": "x"})
    assert r.status_code == 422 and "not a digest" in r.text
    unknown = "sha256:" + "0" * 64
    r = await admin.http.post(f"{PAGE}/tags/point", data={**form.fields, "digest": unknown, "new_tag": "x"})
    assert r.status_code == 422 and "is not in admin/webtags" in r.text and "deleted or moved" in r.text
    r = await admin.http.post(f"{PAGE}/tags/point", data={**form.fields, "digest": v1, "new_tag": "-bad"})
    assert r.status_code == 422
    r = await admin.http.post(f"{PAGE}/tags/delete", data={**form.fields, "tag": "never-was"})
    assert r.status_code == 422 and "No tag &#39;never-was&#39;" in r.text and "x" not in await _alive(wharf)

    kinds = await _kinds(wharf)
    for kind in (
        "create_tag",
        "move_tag",
        "change_tag_expiration",
        "delete_tag",
        "revert_tag",
        "permanently_delete_tag",
    ):
        assert kind in kinds, kind


async def test_readers_see_no_forms_and_cannot_post(world: World, wharf: WharfApp) -> None:
    await world.reg.push_image("acme/app", "v1", user="owner", password=PW)
    reader, writer = Visitor(wharf), Visitor(wharf)
    try:
        await reader.sign_in("reader", PW)
        await writer.sign_in("writer", PW)
        page = (await reader.get("/repository/acme/app?tab=tags")).text
        assert "/tags/delete" not in page and "change=v1" not in page
        assert "/tags/delete" not in (await reader.get("/repository/acme/app?tab=tags&change=v1")).text
        await world.reg.push_image("acme/app", "v1", user="owner", password=PW)  # v1's first lifetime ends
        history = (await reader.get("/repository/acme/app?tab=history")).text
        assert "2 entries" in history and "open=" not in history
        entry = (await writer.get("/repository/acme/app?tab=history")).text
        assert "open=" in entry
        opened = re.findall(r'href="(\?tab=history&amp;open=\d+)#entry"', entry)[0].replace("&amp;", "&")
        assert "/tags/revert" not in (await reader.get(f"/repository/acme/app{opened}")).text
        home = await reader.form("/", "/signout")
        r = await reader.http.post("/repository/acme/app/tags/delete", data={**home.fields, "tag": "v1"})
        assert r.status_code == 403 and "write role" in r.text
        assert "change=v1" in (await writer.get("/repository/acme/app?tab=tags")).text
        panel = "/repository/acme/app?tab=tags&change=v1"
        assert "/tags/delete" in (await writer.get(panel)).text
        form = await writer.form(panel, "/repository/acme/app/tags/delete")
        r = await writer.http.post("/repository/acme/app/tags/delete", data={**form.fields, "tag": "v1"})
        assert r.status_code == 303
    finally:
        await reader.close()
        await writer.close()

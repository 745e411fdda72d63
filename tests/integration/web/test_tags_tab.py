"""The Tags tab at scale: 2,000 tags in pages of 50 with the total, a filter by prefix or glob, sort
links, the per-tag panel opened on demand, pull commands in the client chosen, and a page that
stays small; the Information tab's pull commands for the newest or a chosen tag."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import manifests, repositories, tags
from wharf.db.engine import Db

REPO = "admin/many"
PAGE = f"/repository/{REPO}"
COUNT = 2000
ROW = re.compile(r'aria-label="Copy the pull command of ([^"]+)"')


async def _many_tags(wharf: WharfApp, reg: RegistryClient) -> str:
    """`seed` pushed, then build-00000 .. build-01999 on the same image; the image's digest."""
    digest, _ = await reg.push_image(REPO, "seed")

    def tag_all(db: Db) -> None:
        repo = repositories.get(db, "admin", "many")
        assert repo is not None
        manifest_id = db.execute(manifests.id_by_digest(repo.id, digest)).scalar_one()
        for i in range(COUNT):
            tags.point(db, repo.id, f"build-{i:05d}", manifest_id)

    await wharf.rt.db.write(tag_all)
    return digest


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, "FEATURE_IMMUTABLE_TAGS": True}
    return load_settings(None, overrides, environ={})


def _rows(html: str) -> list[str]:
    return ROW.findall(html)


async def test_pages_of_fifty_with_the_total_a_pager_and_a_small_page(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await _many_tags(wharf, reg)
    r = await admin.get(f"{PAGE}?tab=tags")
    assert r.status_code == 200
    html = r.text
    assert len(r.content) < 150_000, len(r.content)
    assert _rows(html) == [f"build-{i:05d}" for i in range(50)]
    assert "2001 tags" in html and "Page 1 of 41" in html
    assert 'href="?tab=tags&amp;page=2" rel="next"' in html
    assert "/tags/delete" not in html  # no per-row forms: a panel opens on demand
    assert "TagsQuery" not in html  # the header's search box is not the tab's filter
    assert html.count("<form") == 5  # search and sign out (header), star, filter, pull client

    last = (await admin.get(f"{PAGE}?tab=tags&page=41")).text
    assert _rows(last) == ["seed"] and "Page 41 of 41" in last
    assert _rows((await admin.get(f"{PAGE}?tab=tags&page=999")).text) == ["seed"]  # the last page
    hundred = (await admin.get(f"{PAGE}?tab=tags&n=100&page=2")).text
    assert _rows(hundred) == [f"build-{i:05d}" for i in range(100, 200)] and "Page 2 of 21" in hundred


async def test_filter_by_prefix_or_glob_keeps_the_value(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await _many_tags(wharf, reg)
    html = (await admin.get(f"{PAGE}?tab=tags&q=build-0199")).text
    assert _rows(html) == [f"build-{i:05d}" for i in range(1990, 2000)]
    assert "10 tags matching" in html and 'name="q" value="build-0199"' in html
    assert "Page 1 of" not in html  # one page: no pager
    html = (await admin.get(f"{PAGE}?tab=tags&q=*-0000?")).text
    assert _rows(html) == [f"build-{i:05d}" for i in range(10)]
    html = (await admin.get(f"{PAGE}?tab=tags&q=build-01*&page=2")).text
    assert "1000 tags matching" in html and "Page 2 of 20" in html
    assert 'href="?tab=tags&amp;q=build-01%2A&amp;page=3" rel="next"' in html
    assert _rows(html)[0] == "build-01050"
    html = (await admin.get(f"{PAGE}?tab=tags&q=nope")).text
    assert _rows(html) == [] and "No tag matches" in html
    # what no tag can hold is explained, with what is allowed, and the value kept
    r = await admin.get(f"{PAGE}?tab=tags&q=bad tag!")
    assert r.status_code == 200 and "That filter cannot match a tag" in r.text
    assert "letters, digits" in r.text and 'value="bad tag!"' in r.text


async def test_sort_links_by_name_last_modified_and_size(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await _many_tags(wharf, reg)
    html = (await admin.get(f"{PAGE}?tab=tags")).text
    assert 'href="?tab=tags&amp;sort=modified"' in html and 'href="?tab=tags&amp;sort=size"' in html
    assert 'href="?tab=tags&amp;order=desc"' in html  # the current column flips its order
    html = (await admin.get(f"{PAGE}?tab=tags&order=desc")).text
    assert _rows(html)[:2] == ["seed", "build-01999"]
    # newest first: the 2,000 build tags came after seed
    html = (await admin.get(f"{PAGE}?tab=tags&sort=modified")).text
    assert "seed" not in _rows(html) and len(_rows(html)) == 50
    oldest = (await admin.get(f"{PAGE}?tab=tags&sort=modified&order=asc")).text
    assert _rows(oldest)[0] == "seed"
    by_size = (await admin.get(f"{PAGE}?tab=tags&sort=size&q=build-0000")).text
    assert sorted(_rows(by_size)) == [f"build-{i:05d}" for i in range(10)]


async def test_the_panel_changes_one_tag_and_returns_to_the_same_page(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    digest = await _many_tags(wharf, reg)
    panel = f"{PAGE}?tab=tags&q=build-0000&change=build-00003"
    html = (await admin.get(panel)).text
    assert html.count("/tags/delete") == 1 and 'id="change"' in html
    r = await admin.submit(panel, f"{PAGE}/tags/delete")
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}?tab=tags&q=build-0000"
    after = (await admin.get(r.headers["location"])).text
    assert "Deleted tag build-00003" in after and "build-00003" not in _rows(after)
    r = await admin.submit(panel.replace("00003", "00004"), f"{PAGE}/tags/point", new_tag="stable")
    assert r.status_code == 303
    assert "stable" in _rows((await admin.get(f"{PAGE}?tab=tags&q=stable")).text)
    # immutable, then mutable again, from the panel
    immutable = panel.replace("00003", "00006")
    r = await admin.submit(immutable, f"{PAGE}/tags/immutable")
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}?tab=tags&q=build-0000"
    html = (await admin.get(immutable)).text
    assert "is now immutable" in html and "Make mutable" in html and ">immutable</span>" in html
    r = await admin.submit(immutable, f"{PAGE}/tags/immutable")
    assert "Make immutable" in (await admin.get(immutable)).text
    # a back address from elsewhere is rebuilt from the fields the tab knows
    form = await admin.form(panel.replace("00003", "00005"), f"{PAGE}/tags/expiration")
    r = await admin.http.post(
        f"{PAGE}/tags/expiration",
        data={**form.fields, "back": "tab=tags&page=2&next=https://evil.example", "expires": ""},
    )
    assert r.headers["location"] == f"{PAGE}?tab=tags&page=2"
    # a tag on another page opens above the table
    html = (await admin.get(f"{PAGE}?tab=tags&change=build-01500")).text
    assert html.count("/tags/delete") == 1 and "build-01500" not in _rows(html)
    assert digest.split(":")[1][:12] in html


async def test_pull_commands_in_the_client_chosen_on_both_tabs(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    digest = await _many_tags(wharf, reg)
    html = (await admin.get(f"{PAGE}?tab=tags&q=build-00000")).text
    # plain HTTP here: podman and skopeo are told not to try TLS, docker decides by its daemon
    assert re.search(r'data-copy="podman pull --tls-verify=false [^"]+/admin/many:build-00000"', html)
    r = await admin.get(f"{PAGE}?tab=tags&q=build-00000&client=docker&by=digest")
    assert re.search(rf'data-copy="docker pull [^"]+/admin/many@{digest}"', r.text)
    assert "wharf_pull" in r.headers["set-cookie"]
    # the choice is kept: the Information tab uses it, for the newest tag
    info = (await admin.get(PAGE)).text
    assert re.search(r"docker pull [^<]+/admin/many:build-01999<", info)
    assert re.search(rf"docker pull [^<]+/admin/many@{digest}<", info)
    assert "(the newest tag)" in info
    r = await admin.get(f"{PAGE}?tag=seed&client=skopeo")
    assert re.search(
        r"skopeo copy --src-tls-verify=false docker://[^ ]+/admin/many:seed oci-archive:many-seed.tar", r.text
    )
    missing = (await admin.get(f"{PAGE}?tag=gone")).text
    assert "There is no tag gone" in missing

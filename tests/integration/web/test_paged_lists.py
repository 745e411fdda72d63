"""The lists paged on the server with a filter and a total (issue 15), beyond the repository
lists and the Tags tab: the tag history (250 entries), an organization's members, robots and
teams (120 of each); each keeps its filter in the pager's links and opens a row's actions on
demand."""

from __future__ import annotations

import re

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.core import manifests, repositories, tags
from wharf.db.engine import Db

REPO = "admin/long"
PAGE = f"/repository/{REPO}"
ENTRY = re.compile(r'<span class="tag-name">([^<]+)</span>')


async def _long_history(wharf: WharfApp, reg: RegistryClient) -> tuple[str, str]:
    """`seed` on image a, then h-000 .. h-124 each pointed at b and moved back to a: 251 lifetimes
    (125 ended), the newest first being h-124 on a."""
    a, _ = await reg.push_image(REPO, "seed")
    b, _ = await reg.push_image(REPO, "other")

    def fill(db: Db) -> None:
        repo = repositories.get(db, "admin", "long")
        assert repo is not None
        ids = [db.execute(manifests.id_by_digest(repo.id, d)).scalar_one() for d in (a, b)]
        tags.remove(db, repo.id, "other")
        for i in range(125):
            tags.point(db, repo.id, f"h-{i:03d}", ids[1])
            tags.point(db, repo.id, f"h-{i:03d}", ids[0])

    await wharf.rt.db.write(fill)
    return a, b


async def test_the_tag_history_pages_by_fifty_with_a_filter_and_the_total(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    _, b = await _long_history(wharf, reg)
    r = await admin.get(f"{PAGE}?tab=history")
    html = r.text
    assert len(r.content) < 150_000
    assert "252 entries, 1 to 50 shown" in html and "Page 1 of 6" in html
    names = ENTRY.findall(html)
    assert len(names) == 50 and names[:2] == ["h-124", "h-124"]
    assert "/tags/revert" not in html and "/tags/forget" not in html  # no per-row forms
    assert 'href="?tab=history&amp;page=2" rel="next"' in html

    last = (await admin.get(f"{PAGE}?tab=history&page=99")).text
    assert "Page 6 of 6" in last and ENTRY.findall(last)[-1] == "seed"

    # a filter: prefix or glob, kept by the pager
    one = (await admin.get(f"{PAGE}?tab=history&q=h-12")).text
    assert "10 entries matching <code>h-12</code>" in one and set(ENTRY.findall(one)) == {
        f"h-{i}" for i in range(120, 125)
    }
    glob = (await admin.get(f"{PAGE}?tab=history&q=*-0?7")).text
    assert "20 entries matching" in glob and "Page 1 of" not in glob  # h-007 .. h-097
    many = (await admin.get(f"{PAGE}?tab=history&q=h-0")).text
    assert "200 entries matching" in many and 'href="?tab=history&amp;q=h-0&amp;page=2" rel="next"' in many
    bad = (await admin.get(f"{PAGE}?tab=history&q=no+space")).text
    assert "That filter cannot match a tag" in bad
    none = (await admin.get(f"{PAGE}?tab=history&q=zzz")).text
    assert "No tag matching <code>zzz</code> has a history here" in none

    # a row's actions open on demand and return to the same page and filter
    second = (await admin.get(f"{PAGE}?tab=history&q=h-0&page=2")).text
    entry = re.findall(r'href="\?tab=history&amp;q=h-0&amp;page=2&amp;open=(\d+)#entry"', second)[0]
    opened = f"{PAGE}?tab=history&q=h-0&page=2&open={entry}"
    revert = await admin.form(opened, f"{PAGE}/tags/revert")
    assert revert.fields["back"] == "tab=history&q=h-0&page=2" and revert.fields["digest"] == b
    r = await admin.http.post(f"{PAGE}/tags/revert", data=revert.fields)
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}?tab=history&q=h-0&page=2"

    # a foreign address in `back` cannot send the browser elsewhere
    r = await admin.http.post(
        f"{PAGE}/tags/revert", data={**revert.fields, "back": "https://evil.example/?tab=x"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"{PAGE}?tab=history")

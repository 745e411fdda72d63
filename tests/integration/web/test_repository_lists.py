"""Repository lists at scale in the web UI: an organization of 320 repositories on its page, on
the home page and in search; 50 rows a page with the total, a filter that narrows, a pager that
keeps the filter, and a page that stays small."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.core import accounts, audit, orgs, repositories
from wharf.db.engine import Db
from wharf.web.pages._repo_list import summary

BY = audit.Actor(None, "admin")
COUNT = 320
ROW = re.compile(r'<a href="/repository/([^"]+)" class="repo-name">')


@pytest.fixture
async def big(wharf: WharfApp) -> None:
    """Organization `big` with big/svc-000 .. big/svc-319 (every fourth public, the first with a
    Markdown description) and a user `someone` outside it."""

    def fill(db: Db) -> None:
        admin = accounts.get_by_name(db, "admin")
        assert admin is not None
        orgs.create(db, "big", None, admin, BY)
        accounts.create_user(db, "someone", "someone-password", None)
        for i in range(COUNT):
            repo = repositories.create(
                db, "big", f"svc-{i:03}", visibility="public" if i % 4 == 0 else "private", actor=BY
            )
            if i == 0:
                repositories.describe_new(db, repo, "# The **first** [service](https://example.com)\n\nMore.")

    await wharf.rt.db.write(fill)


@pytest.fixture
async def someone(wharf: WharfApp, big: None) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("someone", "someone-password")
    yield v
    await v.close()


def _rows(html: str) -> list[str]:
    return ROW.findall(html)


async def test_an_organization_of_320_repositories_pages_by_50(admin: Visitor, big: None) -> None:
    r = await admin.get("/organization/big")
    assert r.status_code == 200
    rows = _rows(r.text)
    assert rows == [f"big/svc-{i:03}" for i in range(50)]
    assert "320 repositories, showing 1 to 50" in r.text and "Page 1 of 7" in r.text
    assert len(r.content) < 150_000
    assert "The first service" in r.text and "**first**" not in r.text  # one plain line
    assert 'href="/organization/big?tab=repos&amp;page=2"' in r.text

    last = await admin.get("/organization/big?tab=repos&page=7")
    assert _rows(last.text) == [f"big/svc-{i:03}" for i in range(300, 320)]
    assert "showing 301 to 320" in last.text
    beyond = await admin.get("/organization/big?tab=repos&page=999")
    assert _rows(beyond.text) == _rows(last.text)
    junk = await admin.get("/organization/big?tab=repos&page=x")
    assert _rows(junk.text) == rows


async def test_the_filter_narrows_and_the_pager_keeps_it(admin: Visitor, big: None) -> None:
    r = await admin.get("/organization/big?tab=repos&q=svc-1")
    assert "100 repositories match “svc-1”, showing 1 to 50" in r.text
    assert _rows(r.text)[0] == "big/svc-100"
    assert 'href="/organization/big?tab=repos&amp;q=svc-1&amp;page=2"' in r.text
    assert 'href="/organization/big?tab=repos">Clear the filter' in r.text
    one = await admin.get("/organization/big?tab=repos&q=svc-042")
    assert _rows(one.text) == ["big/svc-042"] and "1 repository matches" in one.text
    none = await admin.get("/organization/big?tab=repos&q=nothing")
    assert _rows(none.text) == [] and "matches “nothing”" in none.text


async def test_the_home_page_and_search_page_with_the_total(admin: Visitor, big: None) -> None:
    home = await admin.get("/")
    assert "<h1>Your repositories</h1>" in home.text and len(_rows(home.text)) == 50
    assert "320 repositories, showing 1 to 50" in home.text and len(home.content) < 150_000
    search = await admin.get("/?q=big/svc-2")
    assert "<h1>Repositories matching “big/svc-2”</h1>" in search.text
    assert "100 repositories match" in search.text and _rows(search.text)[0] == "big/svc-200"
    assert 'href="/?show=readable&amp;q=big%2Fsvc-2&amp;page=2"' in search.text


async def test_someone_outside_sees_and_counts_only_the_public_ones(
    someone: Visitor, wharf: WharfApp
) -> None:
    org = await someone.get("/organization/big")
    assert "80 repositories, showing 1 to 50" in org.text
    assert all(int(name[-3:]) % 4 == 0 for name in _rows(org.text))
    mine = await someone.get("/")
    assert _rows(mine.text) == [] and "You have no repositories yet" in mine.text
    public = await someone.get("/?show=public&q=svc-00")
    assert _rows(public.text) == ["big/svc-000", "big/svc-004", "big/svc-008"]
    assert "3 repositories match" in public.text
    anonymous = Visitor(wharf)
    try:
        page = await anonymous.get("/?page=2")
        assert (
            "<h2>Public repositories</h2>" in page.text and "80 repositories, showing 51 to 80" in page.text
        )
    finally:
        await anonymous.close()


async def test_a_users_page_lists_its_repositories_the_same_way(admin: Visitor, wharf: WharfApp) -> None:
    for name in ("one", "two", "three"):
        await wharf.rt.db.write(repositories.create, "admin", name, visibility="private", actor=BY)
    page = await admin.get("/user/admin?q=t")
    assert _rows(page.text) == ["admin/three", "admin/two"] and "2 repositories match" in page.text


def test_a_row_shows_the_first_line_of_the_description_as_plain_text() -> None:
    assert summary(None) == "" and summary("") == ""
    assert summary("\n\n## Build **fast** images\nsecond line") == "Build fast images"
    assert summary("![logo](x.png) Images for `ci`, see [docs](https://x)") == "logo Images for ci, see docs"
    assert summary("- <b>item</b>") == "item"
    assert summary("```\ncode\n```\n\ntext") == "code"
    long = summary("word " * 100)
    assert len(long) == 160 and long.endswith("…")

"""The lists paged on the server with a filter and a total (issue 15), beyond the repository
lists and the Tags tab: the tag history (250 entries), an organization's members, robots and
teams (120 of each); each keeps its filter in the pager's links and opens a row's actions on
demand."""

from __future__ import annotations

import re

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from wharf.app import WharfApp
from wharf.core import accounts, inbox, manifests, orgs, repositories, robots, tags, teams
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


ORG = "/organization/crowd"


async def _crowd(wharf: WharfApp) -> None:
    """Organization `crowd` (owner: admin) with 120 teams (team-000..), 120 users in team-000
    (person-000..; only person-005 has a password: each argon2 hash costs tens of milliseconds),
    and 120 robots (crowd+bot_000..)."""

    def fill(db: Db) -> None:
        admin = accounts.get_by_name(db, "admin")
        assert admin is not None
        org = orgs.create(db, "crowd", None, admin, None)
        made = [teams.upsert(db, org, f"team-{i:03d}", "member", None, None) for i in range(120)]
        for i in range(120):
            user = accounts.create_user(db, f"person-{i:03d}", "pw-long-enough" if i == 5 else None, None)
            teams.add_member(db, org, made[0], user, None)
            robots.create(db, wharf.rt.secrets, org, f"bot_{i:03d}", actor=None)

    await wharf.rt.db.write(fill)


async def test_members_teams_and_robots_page_by_fifty_with_a_filter(admin: Visitor, wharf: WharfApp) -> None:
    await _crowd(wharf)
    members = (await admin.get(f"{ORG}?tab=teams&view=members")).text
    assert "121 members, 1 to 50 shown" in members and "Page 1 of 3" in members
    assert "/members/remove" not in members  # a row's form opens on demand
    last = (await admin.get(f"{ORG}?tab=teams&view=members&page=3")).text
    assert "person-119" in last and "person-098" not in last and "101 to 121 shown" in last
    found = (await admin.get(f"{ORG}?tab=teams&view=members&q=son-11")).text
    assert "10 members matching <code>son-11</code>" in found and "Page 1 of" not in found
    paged = (await admin.get(f"{ORG}?tab=teams&view=members&q=person")).text
    assert 'href="/organization/crowd?tab=teams&amp;view=members&amp;q=person&amp;page=2" rel="next"' in paged

    # removing a member from the second page comes back to it
    opened = f"{ORG}?tab=teams&view=members&q=person&page=2&open=person-060"
    form = await admin.form(opened, f"{ORG}/members/remove")
    assert form.fields["member"] == "person-060"
    r = await admin.http.post(f"{ORG}/members/remove", data=form.fields)
    assert r.status_code == 303
    assert r.headers["location"] == f"{ORG}?tab=teams&view=members&q=person&page=2"
    assert "119 members matching" in (await admin.get(r.headers["location"])).text

    teams_tab = (await admin.get(f"{ORG}?tab=teams")).text
    assert "121 teams, 1 to 50 shown" in teams_tab and "Page 1 of 3" in teams_tab
    assert "team-11" in (await admin.get(f"{ORG}?tab=teams&q=team-11")).text
    assert "No team matches" in (await admin.get(f"{ORG}?tab=teams&q=nothing")).text

    robots_tab = (await admin.get(f"{ORG}?tab=robots&page=2")).text
    assert "120 robot accounts, 51 to 100 shown" in robots_tab and "crowd+bot_050" in robots_tab
    one = (await admin.get(f"{ORG}?tab=robots&q=bot_007")).text
    assert "1 robot account matching" in one and "crowd+bot_007" in one and "crowd+bot_008" not in one
    assert "No robot account of crowd matches" in (await admin.get(f"{ORG}?tab=robots&q=crowd")).text


async def test_a_member_sees_only_their_teams_counted(wharf: WharfApp, admin: Visitor) -> None:
    await _crowd(wharf)
    someone = Visitor(wharf)
    try:
        await someone.sign_in("person-005", "pw-long-enough")
        page = (await someone.get(f"{ORG}?tab=teams")).text
        assert "1 team" in page and "team-000" in page and "team-001" not in page
        assert (await someone.get(f"{ORG}?tab=teams&view=members")).status_code == 200
        assert "person-006" not in (await someone.get(f"{ORG}?tab=teams&view=members")).text
        assert (await someone.get(f"{ORG}?tab=robots")).status_code == 403
    finally:
        await someone.close()


async def test_the_inbox_pages_by_fifty_with_the_total_and_a_new_only_view(
    admin: Visitor, wharf: WharfApp
) -> None:
    def fill(db: Db) -> None:
        me = accounts.get_by_name(db, "admin")
        assert me is not None
        for i in range(120):
            inbox.add(db, [me.id], "repo_push", {"summary": f"item {i:03d}"})
        items = inbox.page_for(db, me.id, page=1, per_page=100).rows
        for item in items[:30]:  # the 30 newest dismissed
            inbox.set_dismissed(db, me.id, item.uuid, True)

    await wharf.rt.db.write(fill)
    page = (await admin.get("/notifications")).text
    assert "120 notifications, 1 to 50 shown" in page and "Page 1 of 3" in page
    assert "item 119" in page and "item 069" not in page
    assert 'href="/notifications?page=2" rel="next"' in page
    last = (await admin.get("/notifications?page=3")).text
    assert "101 to 120 shown" in last and "item 000" in last
    new = (await admin.get("/notifications?show=new")).text
    assert "90 notifications, 1 to 50 shown" in new and "item 119" not in new and "item 089" in new
    assert 'href="/notifications?show=new&amp;page=2" rel="next"' in new

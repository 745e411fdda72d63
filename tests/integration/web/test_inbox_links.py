"""Inbox items link to what they are about: the repository and its tags, a manifest, the namespace
of a quota event, a vulnerability's advisory."""

from __future__ import annotations

import re

from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import accounts, events, inbox
from wharf.jobs import runner


def _items(page: str) -> list[str]:
    return re.findall(r'<span class="what">(.*?)</span>\s*(?:<span class="badge|<form)', page, re.S)


async def test_a_push_notification_links_to_the_repository_and_its_tag(wharf: WharfApp, world: World) -> None:
    r = await world.reg.http.post(
        "/api/v1/repository/acme/app/notification/",
        json={
            "event": "repo_push",
            "method": "quay_notification",
            "config": {"target": {"kind": "user", "name": "writer"}},
            "eventConfig": {},
        },
        headers=world.api["owner"],
    )
    assert r.status_code == 201, r.text
    await world.reg.push_image("acme/app", "v1.2", user="owner", password=PW)
    while await runner.run_once(wharf.rt):
        pass
    writer = Visitor(wharf)
    try:
        await writer.sign_in("writer", PW)
        page = (await writer.get("/notifications")).text
        [item] = _items(page)
        assert '<a href="/repository/acme/app">Repository acme/app updated</a>' in item
        assert '<a href="/repository/acme/app?tab=tags&amp;q=v1.2">v1.2</a>' in item
        tags = (await writer.get("/repository/acme/app?tab=tags&q=v1.2")).text
        assert ">v1.2<" in tags
    finally:
        await writer.close()


async def test_other_events_link_where_they_can(admin: Visitor, wharf: WharfApp) -> None:
    account = await wharf.rt.db.read(accounts.get_by_name, "admin")
    assert account is not None
    origin = "http://elsewhere.example"
    digest = "sha256:" + "a" * 64
    tags = [f"t{i}" for i in range(7)]
    samples = [
        ("quota_warning", events.namespace_data(origin, "admin", usage_percent=81)),
        (
            "vulnerability_found",
            events.repository_data(
                origin,
                "admin",
                "app",
                tags=["latest"],
                manifest_digest=digest,
                vulnerability={"id": "CVE-2026-1", "priority": "High", "link": "https://cve.example/1"},
            ),
        ),
        ("repo_image_expiry", events.repository_data(origin, "admin", "app", tags=tags)),
        ("build_failure", events.repository_data(origin, "admin", "app", build_id="b1")),
        ("repo_push", {"repository": "../../evil", "summary": "odd"}),
        ("repo_push", {"vulnerability": {"link": "javascript:alert(1)"}, "summary": "no target"}),
    ]
    for kind, data in samples:
        summary = data.get("summary") or events.EVENTS[kind].summary(data)
        await wharf.rt.db.write(inbox.add, [account.id], kind, {**data, "summary": summary})
    page = (await admin.get("/notifications")).text
    items = list(reversed(_items(page)))  # newest first on the page
    quota, vulnerability, expiry, build, odd, nothing = items
    assert quota.startswith('<a href="/user/admin">Quota warning for namespace admin')
    assert vulnerability.startswith('<a href="/repository/admin/app">A High vulnerability CVE-2026-1')
    assert f'<a href="/repository/admin/app/manifest/{digest}">manifest</a>' in vulnerability
    assert (
        '<a href="https://cve.example/1" rel="noopener noreferrer nofollow">CVE-2026-1</a>' in vulnerability
    )
    assert (
        expiry.count("?tab=tags&amp;q=t") == 5
        and '<a href="/repository/admin/app?tab=tags">2 more tags</a>' in expiry
    )
    assert build.startswith('<a href="/repository/admin/app">Build failed for repository admin/app</a>')
    assert "<a " not in odd and "<a " not in nothing
    assert "elsewhere.example" not in page and "javascript:" not in page

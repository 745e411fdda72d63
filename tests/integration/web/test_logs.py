"""The usage-logs view (web/pages/logs.py) on the repository page's Usage logs tab: entries in words,
range and filter, the per-day chart, paging, export, and who may read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from tests.receivers import http_receiver
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import audit, log_exports, repositories
from wharf.db.engine import Db
from wharf.web.pages import logs as logs_view

REPO = "admin/logged"
PAGE = f"/repository/{REPO}"
LOGS = f"{PAGE}?tab=logs"


@pytest.fixture
def settings(data_dir: object, db_uri: str | None) -> Settings:
    return load_settings(
        None, {"DATA_DIR": data_dir, "DB_URI": db_uri, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]}, environ={}
    )


async def _pull(reg: RegistryClient, reference: str) -> None:
    headers = await reg.headers(REPO, "pull")
    assert (await reg.http.get(f"/v2/{REPO}/manifests/{reference}", headers=headers)).status_code == 200
    await reg.wharf.rt.audit_buffer.flush()


async def _record(wharf: WharfApp, kind: str, count: int = 1, **metadata: object) -> None:
    def write(db: Db) -> None:
        repo = repositories.get(db, "admin", "logged")
        assert repo is not None
        for _ in range(count):
            audit.record(db, kind, None, namespace_id=repo.namespace_id, repository_id=repo.id, **metadata)

    await wharf.rt.db.write(write)


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr class=\"kind-[a-z_]+\">(.*?)</tr>", body, re.S)


async def test_pushes_and_pulls_in_words_with_a_chart(admin: Visitor, reg: RegistryClient) -> None:
    await reg.push_image(REPO, "v1")
    await reg.push_image(REPO, "v2")
    await _pull(reg, "v1")
    page = (await admin.get(LOGS)).text
    assert "admin pushed tag v1 of admin/logged" in page
    assert "admin pushed tag v2 of admin/logged" in page
    assert "admin pulled tag v1 of admin/logged" in page
    # the chart: inline SVG, one group per day of the last week, bars per series
    svg = page.split('<svg class="log-chart"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('<g class="day">') == logs_view.DEFAULT_DAYS
    assert 'class="push"' in svg and 'class="pull"' in svg
    today = datetime.now(UTC).date().isoformat()
    assert f"{today}: " in svg and "1 pull" in svg and "2 pushes" in svg
    assert "style=" not in svg and "<script" not in svg  # nothing the CSP would refuse
    assert "Pushes" in page and "Pulls 1" in page

    # the filter keeps the matching entries only, and says so when none match
    filtered = (await admin.get(f"{LOGS}&filter=V2")).text
    texts = " ".join(_rows(filtered))
    assert "tag v2" in texts and "tag v1" not in texts
    assert "&lt;" not in texts
    nothing = (await admin.get(f"{LOGS}&filter=zzz-nothing")).text
    assert "No entry between" in nothing and "matches “zzz-nothing”" in nothing


async def test_the_filter_finds_text_beyond_ascii(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    """Details are stored as JSON with \\u escapes: the filter looks for both spellings."""
    await reg.push_image(REPO, "v1")
    await _record(
        wharf,
        "add_repo_notification",
        namespace="admin",
        repo="logged",
        method="webhook",
        event="repo_push",
        title="Bauhof Zürich 100%",
    )
    for text in ("Zürich", "ürich 100%", "hof zü"):
        rows = _rows((await admin.get(LOGS, params={"tab": "logs", "filter": text})).text)
        assert len(rows) == 1 and "added a webhook notification" in rows[0], text
    assert _rows((await admin.get(LOGS, params={"tab": "logs", "filter": "Zurich"})).text) == []


async def test_range_mistakes_and_empty_range(admin: Visitor, reg: RegistryClient) -> None:
    await reg.push_image(REPO, "v1")
    r = await admin.get(f"{LOGS}&start=yesterday")
    assert r.status_code == 400 and "type it as 2026-11-28" in r.text
    r = await admin.get(f"{LOGS}&start=2026-02-01&end=2026-01-01")
    assert r.status_code == 400 and "start date on or before the end date" in r.text
    r = await admin.get(f"{LOGS}&start=2025-01-01&end=2025-12-31")
    assert r.status_code == 400 and f"at most {logs_view.MAX_DAYS} days" in r.text
    r = await admin.get(f"{LOGS}&before=not-a-cursor")
    assert r.status_code == 400
    old = (datetime.now(UTC) - timedelta(days=400)).date()
    r = await admin.get(f"{LOGS}&start={old.isoformat()}&end={(old + timedelta(days=2)).isoformat()}")
    assert r.status_code == 200 and "Nothing was logged between" in r.text
    assert r.text.count('<g class="day">') == 3


async def test_paging_older_and_newer(admin: Visitor, reg: RegistryClient, wharf: WharfApp) -> None:
    await reg.push_image(REPO, "v1")
    await _record(wharf, "set_repo_description", logs_view.PAGE + 10, namespace="admin", repo="logged")
    first = (await admin.get(LOGS)).text
    assert len(_rows(first)) == logs_view.PAGE
    assert "Newer" not in first
    total = logs_view.PAGE + 12
    assert re.search(rf"{total} entries from [0-9-]+ to [0-9-]+, newest first, 50 a page", first)
    older = re.search(r'href="([^"]*before=[^"]*)"', first)
    assert older is not None
    second = (await admin.get(older.group(1).replace("&amp;", "&"))).text
    rows = _rows(second)
    assert len(rows) == 12  # the other 10 changes, the push, and the repository's creation
    assert "admin pushed tag v1" in " ".join(rows)
    assert "Older" not in second
    newer = re.search(r'href="([^"]*after=[^"]*)"', second)
    assert newer is not None
    back = (await admin.get(newer.group(1).replace("&amp;", "&"))).text
    assert _rows(back) == _rows(first)
    assert "Newer" not in back


async def test_unknown_kinds_fall_back_and_everything_is_escaped(
    admin: Visitor, wharf: WharfApp, reg: RegistryClient
) -> None:
    await reg.push_image(REPO, "v1")
    await _record(wharf, "strange_thing", note="<script>alert(1)</script>")
    await _record(wharf, "change_repo_visibility", namespace="admin", repo="<b>x</b>", visibility="public")
    page = (await admin.get(LOGS)).text
    assert "strange thing: note=&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "made admin/&lt;b&gt;x&lt;/b&gt; public" in page
    assert "<script>alert" not in page and "<b>x</b>" not in page
    # anonymous entries (no performer) say so
    assert "An anonymous user" in page


async def test_export_says_what_happens_next(admin: Visitor, reg: RegistryClient, wharf: WharfApp) -> None:
    await reg.push_image(REPO, "v1")
    action = f"{PAGE}/logs/export"
    form = await admin.form(LOGS, action)
    assert "callback_email" not in form.fields  # this registry sends no e-mail: not offered
    # refused on the Logs tab itself, the export form open with its message (web/forms.py)
    r = await admin.http.post(action, data=form.fields)
    assert r.status_code == 422 and "an e-mail address, a URL or both" in r.text
    assert '<details class="export" open>' in r.text
    r = await admin.http.post(action, data={**form.fields, "callback_email": "me@example.com"})
    assert r.status_code == 422 and "MAIL_SERVER" in r.text
    r = await admin.http.post(action, data={**form.fields, "callback_url": "ftp://example.com/x"})
    assert r.status_code == 422 and "http:// or https://" in r.text
    assert 'value="ftp://example.com/x" aria-invalid="true"' in r.text
    with http_receiver() as receiver:
        r = await admin.http.post(action, data={**form.fields, "callback_url": receiver.url + "/done"})
    assert r.status_code == 303 and r.headers["location"] == LOGS
    flash = (await admin.get(LOGS)).text
    match = re.search(r"\(export ([0-9a-f-]{36})\)", flash)
    assert match is not None and f"goes to {receiver.url}/done when it is ready" in flash
    export = await wharf.rt.db.read(log_exports.get, match.group(1))
    assert export is not None and export.repository_name == "logged" and export.state == log_exports.QUEUED
    assert export.callback_url == receiver.url + "/done"


async def test_only_admins_read_the_logs(wharf: WharfApp, reg: RegistryClient) -> None:
    await reg.push_image(REPO, "v1")
    await reg.create_user("friend", PW)
    admin = Visitor(wharf)
    await admin.sign_in("admin", ADMIN_PASSWORD)
    r = await admin.submit(
        f"{PAGE}?tab=settings", f"{PAGE}/settings/grant", kind="user", name="friend", role="write"
    )
    assert r.status_code == 303
    friend = Visitor(wharf)
    await friend.sign_in("friend", PW)
    r = await friend.get(LOGS)
    assert r.status_code == 403 and "need the admin role" in r.text
    form = await admin.form(LOGS, f"{PAGE}/logs/export")
    friend_form = await friend.form(f"{PAGE}?tab=tags", f"{PAGE}/star")
    r = await friend.http.post(
        f"{PAGE}/logs/export",
        data={
            **form.fields,
            "_csrf_token": friend_form.fields["_csrf_token"],
            "callback_url": "https://x.example",
        },
    )
    assert r.status_code == 403
    await admin.close()
    await friend.close()


async def test_organization_user_and_registry_wide_logs(world: World, wharf: WharfApp) -> None:
    """The same view on the organization's, the user's and the superuser's Usage logs tabs, each
    showing its own scope, to its own readers."""
    reg = world.reg
    await reg.push_image("acme/app", "org-tag", user="owner", password=PW)
    await reg.push_image("admin/solo", "mine")
    owner, reader, admin = Visitor(wharf), Visitor(wharf), Visitor(wharf)
    try:
        await owner.sign_in("owner", PW)
        await reader.sign_in("reader", PW)
        await admin.sign_in("admin", ADMIN_PASSWORD)
        org_logs = (await owner.get("/organization/acme?tab=logs")).text
        assert "org-tag" in org_logs and "admin/solo" not in org_logs
        assert (await reader.get("/organization/acme?tab=logs")).status_code == 403

        assert "mine" in (await admin.get("/user/admin?tab=logs")).text
        assert "admin/solo" not in (await owner.get("/user/owner?tab=logs")).text
        assert (await owner.get("/user/admin?tab=logs")).status_code == 403

        everything = (await admin.get("/superuser?tab=logs")).text
        assert "org-tag" in everything and "mine" in everything
        assert (await owner.get("/superuser?tab=logs")).status_code == 404

        with http_receiver() as receiver:
            r = await owner.submit(
                "/organization/acme?tab=logs", "/organization/acme/logs/export", callback_url=receiver.url
            )
        assert r.status_code == 303 and r.headers["location"] == "/organization/acme?tab=logs"
        form = await owner.form("/organization/acme?tab=logs", "/organization/acme/logs/export")
        r = await reader.http.post(
            "/organization/acme/logs/export",
            data={**form.fields, "_csrf_token": (await reader.form("/", "/signout")).fields["_csrf_token"]},
        )
        assert r.status_code == 403
    finally:
        for v in (owner, reader, admin):
            await v.close()

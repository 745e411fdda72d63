"""The repository page's Settings tab: description, visibility, permissions, notifications, state and
deletion, over the same core functions as the API; only the repository's admins may use it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import update

from tests.integration.web_client import Visitor, forms_of
from tests.integration.world import PW, World
from tests.receivers import HttpReceiver, Mailbox, http_receiver, plain_text, smtp_server
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import accounts, grants, logs, notifications, repositories
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import WebSession
from wharf.jobs import runner

REPO = "acme/app"
PAGE = f"/repository/{REPO}"
SETTINGS = f"{PAGE}?tab=settings"
ACTION = f"{PAGE}/settings/"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(
        None,
        {"DATA_DIR": data_dir, "DB_URI": db_uri, "SSRF_ALLOWED_HOSTS": ["127.0.0.1"], **mailbox.settings()},
        environ={},
    )


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


@pytest.fixture
async def owner(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def _as(wharf: WharfApp, user: str) -> Visitor:
    v = Visitor(wharf)
    await v.sign_in(user, PW)
    return v


async def _post(v: Visitor, action: str, **values: str) -> Any:
    """Send the Settings tab's form for `action` (the first one), with these values."""
    return await v.submit(SETTINGS, ACTION + action, **values)


async def _repo(wharf: WharfApp) -> repositories.RepositoryRecord:
    found = await wharf.rt.db.read(repositories.get, "acme", "app")
    assert found is not None
    return found


async def _kinds(wharf: WharfApp) -> list[str]:
    repo = await _repo(wharf)
    found = await wharf.rt.db.read(
        logs.page, logs.Scope(repository_id=repo.id), 0, 2**62, before=None, limit=100
    )
    return [e.kind for e in found]


async def test_only_admins_see_and_use_the_settings(wharf: WharfApp, world: World) -> None:
    owner, writer, direct = await _as(wharf, "owner"), await _as(wharf, "writer"), await _as(wharf, "direct")
    try:
        info = (await owner.get(PAGE)).text
        assert "?tab=settings" in info and "?tab=logs" in info
        # a user with a direct admin grant is an admin of the repository too
        assert (await direct.get(SETTINGS)).status_code == 200
        # a writer sees neither tab, and is told what role the pages need
        assert "?tab=settings" not in (await writer.get(PAGE)).text
        for tab in ("settings", "logs"):
            r = await writer.get(f"{PAGE}?tab={tab}")
            assert r.status_code == 403 and "need the admin role" in r.text and "you have write" in r.text
        # nor can a writer post the forms (with its own valid CSRF token)
        token = forms_of((await writer.get(PAGE + "?tab=tags")).text)
        csrf = next(f.fields["_csrf_token"] for f in token if "_csrf_token" in f.fields)
        r = await writer.http.post(ACTION + "visibility", data={"_csrf_token": csrf, "visibility": "public"})
        assert r.status_code == 403
        assert not (await _repo(wharf)).is_public
        # an outsider cannot tell the private repository exists; an anonymous visitor signs in first
        outsider = await _as(wharf, "outsider")
        assert (await outsider.get(SETTINGS)).status_code == 404
        await outsider.close()
        anonymous = Visitor(wharf)
        r = await anonymous.get(SETTINGS)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        await anonymous.close()
    finally:
        for v in (owner, writer, direct):
            await v.close()


async def test_description_visibility_and_state(owner: Visitor, wharf: WharfApp) -> None:
    text = "# Hello\n\n<script>alert(1)</script> **bold**"
    r = await _post(owner, "description", description=text)
    assert r.status_code == 303 and r.headers["location"] == SETTINGS
    assert await wharf.rt.db.read(repositories.description, (await _repo(wharf)).id) == text
    page = (await owner.get(SETTINGS)).text
    assert "Saved the description." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # in the textarea, escaped
    info = (await owner.get(PAGE)).text
    assert "<strong>bold</strong>" in info and "<script>alert" not in info

    r = await _post(owner, "visibility", visibility="public")
    assert r.status_code == 303 and (await _repo(wharf)).is_public
    r = await _post(owner, "visibility", visibility="everyone")
    assert r.status_code == 400 and "Choose public or private" in r.text

    r = await _post(owner, "state", state="READ_ONLY")
    assert r.status_code == 303 and (await _repo(wharf)).state == repositories.READ_ONLY
    r = await _post(owner, "description", description="changed")
    assert r.status_code == 503 and "accepts no writes" in r.text
    r = await _post(owner, "state", state="BROKEN")
    assert r.status_code == 400 and "NORMAL" in r.text
    r = await _post(owner, "state", state="NORMAL")
    assert (await _repo(wharf)).state == repositories.NORMAL
    kinds = await _kinds(wharf)
    assert {"set_repo_description", "change_repo_visibility", "change_repo_state"} <= set(kinds)


async def test_permissions_for_users_robots_and_teams(owner: Visitor, wharf: WharfApp, world: World) -> None:
    # the world already grants readers/writers (teams) and direct (admin)
    page = (await owner.get(SETTINGS)).text
    assert "Remove team readers" in page and "Remove direct" in page

    r = await _post(owner, "grant", kind="user", name="outsider", role="read")
    assert r.status_code == 303
    assert "outsider now has the read role" in (await owner.get(SETTINGS)).text
    r = await _post(owner, "grant", kind="user", name="outsider", role="write")
    repo = await _repo(wharf)
    roles = {a.name: role for a, role in await wharf.rt.db.read(grants.user_roles, repo)}
    assert roles["outsider"] == "write"
    r = await owner.http.post(
        ACTION + "revoke",
        data={**(await owner.form(SETTINGS, ACTION + "revoke")).fields, "kind": "user", "name": "outsider"},
    )
    assert r.status_code == 303
    roles = {a.name: role for a, role in await wharf.rt.db.read(grants.user_roles, repo)}
    assert "outsider" not in roles

    # a team, through the team form (its select offers the org's teams)
    team_form = [f for f in forms_of(page) if f.action == ACTION + "grant" and f.fields.get("kind") == "team"]
    makers = next(f for f in team_form if f.fields.get("name") not in ("readers", "writers"))
    r = await owner.http.post(ACTION + "grant", data={**makers.fields, "name": "makers", "role": "write"})
    assert r.status_code == 303
    assert ("makers", "write") in await wharf.rt.db.read(grants.team_roles, repo)

    # mistakes say what went wrong and what to do
    r = await _post(owner, "grant", kind="user", name="nobody-here", role="read")
    assert r.status_code == 422 and "There is no user or robot named &#39;nobody-here&#39;" in r.text
    assert 'value="nobody-here" aria-invalid="true"' in r.text
    r = await _post(owner, "grant", kind="user", name="acme", role="read")
    assert r.status_code == 422 and "grant it to one of its teams" in r.text
    r = await _post(owner, "grant", kind="team", name="ghosts", role="read")
    assert r.status_code == 404 and "No team ghosts" in r.text
    r = await _post(owner, "grant", kind="user", name="outsider", role="owner")
    assert r.status_code == 400 and "read, write or admin" in r.text
    r = await _post(owner, "revoke", kind="user", name="outsider")
    assert r.status_code == 404 and "no permission" in r.text
    # a robot of another namespace is refused (Quay's words)
    r = await world.reg.http.put("/api/v1/user/robots/bot", headers=world.api["outsider"])
    assert r.status_code == 201, r.text
    r = await _post(owner, "grant", kind="user", name="outsider+bot", role="read")
    assert r.status_code == 400 and "Cannot add robot outsider+bot under namespace acme" in r.text
    kinds = await _kinds(wharf)
    assert kinds.count("create_repo_permission") >= 2 and "delete_repo_permission" in kinds


async def test_notifications_create_test_reset_delete(
    owner: Visitor, wharf: WharfApp, receiver: HttpReceiver
) -> None:
    page = (await owner.get(SETTINGS)).text
    assert "No notifications yet" in page
    title = "<b>deploy</b> & co"
    r = await _post(
        owner,
        "notification-create",
        event="repo_push",
        method="webhook",
        url=receiver.url + "/hook",
        title=title,
    )
    assert r.status_code == 303, r.text
    page = (await owner.get(SETTINGS)).text
    assert "&lt;b&gt;deploy&lt;/b&gt; &amp; co" in page and "<b>deploy</b>" not in page
    repo = await _repo(wharf)
    namespace = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert namespace is not None
    [found] = await wharf.rt.db.read(notifications.list_for, namespace, repo)
    assert found.title == title and found.config == {"url": receiver.url + "/hook"}

    # test: the sample event reaches the receiver once the queue runs
    r = await _post(owner, "notification-test", uuid=found.uuid)
    assert r.status_code == 303
    assert "Sent a test of" in (await owner.get(SETTINGS)).text
    while await runner.run_once(wharf.rt):
        pass
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["repository"] == REPO

    # a failing notification can be reset
    def fail(db: Db) -> None:
        for _ in range(notifications.DISABLE_AFTER):
            notifications.record_outcome(db, found.id, "repo_push", False, "HTTP 500")

    await wharf.rt.db.write(fail)
    page = (await owner.get(SETTINGS)).text
    assert "disabled" in page and "Reset failures" in page
    r = await _post(owner, "notification-reset", uuid=found.uuid)
    assert r.status_code == 303
    assert (await wharf.rt.db.read(notifications.get, found.uuid)).number_of_failures == 0  # type: ignore[union-attr]

    r = await owner.http.post(
        ACTION + "notification-delete",
        data={**(await owner.form(SETTINGS, ACTION + "notification-delete")).fields, "uuid": found.uuid},
    )
    assert r.status_code == 303
    assert await wharf.rt.db.read(notifications.list_for, namespace, repo) == []
    kinds = await _kinds(wharf)
    assert {"add_repo_notification", "reset_repo_notification", "delete_repo_notification"} <= set(kinds)


async def test_notification_mistakes_are_explained(owner: Visitor, wharf: WharfApp) -> None:
    r = await _post(owner, "notification-create", event="repo_push", method="webhook", url="ftp://x.example")
    assert r.status_code == 422 and "http:// or https://" in r.text
    r = await _post(
        owner, "notification-create", event="quota_warning", method="webhook", url="https://x.example"
    )
    assert r.status_code == 422 and "Pick the event" in r.text
    r = await _post(
        owner, "notification-create", event="repo_push", method="quay_notification", target_name="nobody-here"
    )
    assert r.status_code == 422 and "There is no user" in r.text
    r = await _post(
        owner,
        "notification-create",
        event="repo_image_expiry",
        method="quay_notification",
        target_name="owner",
        days="many",
    )
    assert r.status_code == 422 and "whole number of days" in r.text
    # an in-app notification to a team of the organization works
    r = await _post(
        owner,
        "notification-create",
        event="repo_push",
        method="quay_notification",
        target_kind="team",
        target_name="writers",
    )
    assert r.status_code == 303, r.text
    r = await _post(owner, "notification-test", uuid="no-such-uuid")
    assert r.status_code == 404


async def test_an_email_notification_asks_the_address_first(
    owner: Visitor, wharf: WharfApp, mailbox: Mailbox
) -> None:
    """The form sends the confirmation link itself; the link's page says what it did; then the same
    form creates the notification."""
    start = len(mailbox.messages)
    values = {"event": "repo_push", "method": "email", "email": "ops@example.com"}
    r = await _post(owner, "notification-create", **values)
    assert r.status_code == 303, r.text
    assert "sent a link to confirm" in (await owner.get(SETTINGS)).text
    message = mailbox.wait_for(start + 1)[start]
    assert message["To"] == "ops@example.com"
    link = re.search(r"https?://\S+(/authrepoemail\?code=\S+)", plain_text(message))
    assert link is not None
    wrong = await owner.get("/authrepoemail?code=wrong")
    assert wrong.status_code == 404 and "send the confirmation again" in wrong.text
    confirmed = await owner.get(link.group(1))
    assert confirmed.status_code == 200 and "ops@example.com" in confirmed.text
    assert "content-security-policy" in confirmed.headers
    r = await _post(owner, "notification-create", **values)
    assert r.status_code == 303, r.text
    namespace = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert namespace is not None
    [found] = await wharf.rt.db.read(notifications.list_for, namespace, await _repo(wharf))
    assert found.method == "email" and found.config == {"email": "ops@example.com"}


async def test_delete_needs_the_name_and_a_fresh_password(owner: Visitor, wharf: WharfApp) -> None:
    page = (await owner.get(SETTINGS)).text
    assert 'name="password"' not in page  # signed in a moment ago
    r = await _post(owner, "delete", confirm="acme/other")
    assert r.status_code == 422 and "type acme/app exactly" in r.text
    assert await wharf.rt.db.read(repositories.get, "acme", "app") is not None

    # an hour later the form asks for the password again
    def age(db: Db) -> None:
        db.execute(update(WebSession).values(login_ms=now_ms() - 3_600_000))

    await wharf.rt.db.write(age)
    page = (await owner.get(SETTINGS)).text
    assert 'name="password"' in page
    r = await _post(owner, "delete", confirm=REPO, password="")
    assert r.status_code == 422 and "type your password to confirm it is you" in r.text
    r = await _post(owner, "delete", confirm=REPO, password="wrong-password")
    assert r.status_code == 422 and "That password is wrong" in r.text
    assert await wharf.rt.db.read(repositories.get, "acme", "app") is not None
    r = await _post(owner, "delete", confirm=REPO, password=PW)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Deleted repository acme/app." in (await owner.get("/")).text
    assert await wharf.rt.db.read(repositories.get, "acme", "app") is None
    assert (await owner.get(SETTINGS)).status_code == 404


async def test_the_notifications_are_paged_and_filtered(owner: Visitor, wharf: WharfApp) -> None:
    repo = await _repo(wharf)
    namespace = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert namespace is not None

    def fill(db: Db) -> None:
        for i in range(30):
            notifications.create(
                db, wharf.rt.secrets, namespace, repo, "repo_push", "webhook",
                {"url": "https://hooks.example.com/x"}, {}, f"Hook-{i:02d}", None,
            )  # fmt: skip

    await wharf.rt.db.write(fill)
    page = (await owner.get(SETTINGS)).text
    assert "30 notifications, 1 to 25 shown" in page
    assert "Hook-24" in page and "Hook-25" not in page
    assert 'href="?tab=settings&amp;page=2#notifications"' in page  # the pager comes back to the list
    second = f"{SETTINGS}&page=2"
    page = (await owner.get(second)).text
    assert "26 to 30 shown" in page and "Hook-25" in page and "Hook-24" not in page

    filtered = (await owner.get(f"{SETTINGS}&q=hook-1")).text
    assert "10 notifications matching <code>hook-1</code>" in filtered and "Hook-20" not in filtered
    nothing = (await owner.get(f"{SETTINGS}&q=nope")).text
    assert "No notification's title holds “nope”" in nothing

    # a row's action comes back to the row's page
    [hook] = [
        n for n in await wharf.rt.db.read(notifications.list_for, namespace, repo) if n.title == "Hook-27"
    ]
    form = await owner.form(second, ACTION + "notification-delete")
    r = await owner.http.post(ACTION + "notification-delete", data={**form.fields, "uuid": hook.uuid})
    assert r.status_code == 303
    assert r.headers["location"] == f"{PAGE}?tab=settings&page=2#notifications"
    assert "29 notifications, 26 to 29 shown" in (await owner.get(second)).text

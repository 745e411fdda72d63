"""A refused form shows its own page again (web/forms.py): status 422 (409 for a name that exists),
the message next to the field (the field is aria-invalid and described by it), what was typed
kept (never a password), and nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import update

from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.core import (
    accounts,
    applications,
    notifications,
    orgs,
    prototypes,
    repositories,
    robots,
    tags,
    teams,
)
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import WebSession
from wharf.web.forms import Entered


@dataclass
class _Page(HTMLParser):
    """The fields marked invalid, and the text of every element with an id."""

    invalid: dict[str, dict[str, str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    _open: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("aria-invalid") == "true" and a.get("name"):
            self.invalid[a["name"]] = a
        if a.get("id"):
            self._open.append(a["id"])
            self.texts[a["id"]] = ""

    def handle_data(self, data: str) -> None:
        for element_id in self._open:
            self.texts[element_id] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "p") and self._open:
            self._open.pop()


@dataclass(frozen=True)
class Refusal:
    value: str | None
    message: str


def refused(r: httpx.Response, name: str, status: int = 422) -> Refusal:
    """The refusal of the field `name`: the page came back with `status`, the field is marked
    invalid, and its aria-describedby names the message next to it."""
    assert r.status_code == status, r.text
    assert "Error " + str(status) not in r.text  # the form's page, not the error page
    page = _Page()
    page.feed(r.text)
    assert name in page.invalid, f"{name} is not marked invalid"
    attrs = page.invalid[name]
    messages = [page.texts[i] for i in attrs["aria-describedby"].split() if i.startswith("error-")]
    assert len(messages) == 1
    return Refusal(attrs.get("value"), messages[0].strip())


@pytest.fixture
async def owner(wharf: WharfApp, world: World) -> AsyncIterator[Visitor]:
    v = Visitor(wharf)
    await v.sign_in("owner", PW)
    yield v
    await v.close()


async def test_the_tag_panel_keeps_what_was_typed(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    v1, _ = await reg.push_image("admin/forms", "v1")
    page = "/repository/admin/forms?tab=tags&change=v1"
    action = "/repository/admin/forms/tags/"

    r = await admin.submit(page, action + "point", new_tag="bad tag!")
    bad = refused(r, "new_tag")
    assert bad.value == "bad tag!"
    assert (
        "Tag names: letters, digits, _, . and -, up to 128 characters, not starting with . or -"
        in bad.message
    )
    assert 'id="change"' in r.text  # the panel is open again
    # served at the form's address, the page's relative links are resolved against its own
    assert '<base href="/repository/admin/forms?tab=tags&amp;change=v1">' in r.text
    assert "base-uri 'self'" in r.headers["content-security-policy"]

    r = await admin.submit(page, action + "expiration", expires="2020-01-02T03:04")
    past = refused(r, "expires")
    assert past.value == "2020-01-02T03:04" and "has passed" in past.message and "future" in past.message

    repo = await wharf.rt.db.read(repositories.get, "admin", "forms")
    assert repo is not None
    [alive] = await wharf.rt.db.read(tags.history, repo.id, only_alive=True)
    assert alive.name == "v1" and alive.manifest_digest == v1 and alive.expires_ms is None


async def test_a_tag_gone_meanwhile_is_said_on_the_tab(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.push_image("admin/gone", "v1")
    page = "/repository/admin/gone?tab=tags&change=v1"
    form = await admin.form(page, "/repository/admin/gone/tags/delete")
    assert (await admin.http.post("/repository/admin/gone/tags/delete", data=form.fields)).status_code == 303
    r = await admin.http.post("/repository/admin/gone/tags/delete", data=form.fields)
    assert r.status_code == 422 and "No tag &#39;v1&#39;" in r.text and "deleted or moved" in r.text
    assert 'role="alert"' in r.text


async def test_creating_a_repository(owner: Visitor, wharf: WharfApp) -> None:
    r = await owner.submit(
        "/new/", "/new/", namespace="acme", name="Bad Name", visibility="public", description="kept *text*"
    )
    bad = refused(r, "name")
    assert bad.value == "Bad Name" and "Repository names: lowercase letters" in bad.message
    assert "kept *text*</textarea>" in r.text and 'value="public" checked' in r.text
    assert await wharf.rt.db.read(repositories.get, "acme", "Bad Name") is None

    taken = refused(await owner.submit("/new/", "/new/", namespace="acme", name="app"), "name", 409)
    assert taken.value == "app" and "acme/app already exists" in taken.message


async def test_a_refused_webhook_says_why_and_what_to_do(owner: Visitor, wharf: WharfApp) -> None:
    settings = "/repository/acme/app?tab=settings"
    r = await owner.submit(
        settings,
        "/repository/acme/app/settings/notification-create",
        event="repo_push",
        method="webhook",
        url="http://127.0.0.1:9/hook",
        title="Deploy",
    )
    url = refused(r, "url")
    assert url.value == "http://127.0.0.1:9/hook"
    assert "internal address" in url.message and "SSRF_ALLOWED_HOSTS" in url.message
    assert 'value="Deploy"' in r.text
    namespace = await wharf.rt.db.read(accounts.get_by_name, "acme")
    repo = await wharf.rt.db.read(repositories.get, "acme", "app")
    assert namespace is not None and repo is not None
    assert await wharf.rt.db.read(notifications.list_for, namespace, repo) == []


async def test_a_mistyped_confirmation_deletes_nothing(owner: Visitor, wharf: WharfApp) -> None:
    r = await owner.submit(
        "/repository/acme/app?tab=settings", "/repository/acme/app/settings/delete", confirm="acme/ap"
    )
    confirm = refused(r, "confirm")
    assert confirm.value == "acme/ap" and "type acme/app exactly" in confirm.message
    assert await wharf.rt.db.read(repositories.get, "acme", "app") is not None

    r = await owner.submit("/organization/acme?tab=settings", "/organization/acme/delete", confirm="acm")
    confirm = refused(r, "confirm")
    assert confirm.value == "acm" and "type acme exactly" in confirm.message
    assert await wharf.rt.db.read(orgs.get, "acme") is not None


async def test_teams_robots_and_members(owner: Visitor, wharf: WharfApp) -> None:
    r = await owner.submit(
        "/organization/acme?tab=teams", "/organization/acme/teams/new", name="Dev Team", description="d"
    )
    name = refused(r, "name")
    assert name.value == "Dev Team" and "Team names: 2 to 255" in name.message
    acme = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert acme is not None and await wharf.rt.db.read(teams.get, acme.id, "Dev Team") is None

    r = await owner.submit("/organization/acme?tab=robots", "/organization/acme/robots/new", name="CI Bot")
    name = refused(r, "name")
    assert name.value == "CI Bot" and "Robot names: 2 to 255" in name.message
    assert await wharf.rt.db.read(accounts.get_by_name, "acme+CI Bot") is None

    team = "/organization/acme/teams/readers"
    r = await owner.submit(team, f"{team}/add-member", member="nobody-here")
    member = refused(r, "member")
    assert member.value == "nobody-here" and "no user or robot named" in member.message


async def test_account_settings(wharf: WharfApp, world: World) -> None:
    v = Visitor(wharf)
    try:
        await v.sign_in("writer", PW)
        settings = "/user/writer?tab=settings"
        r = await v.submit(settings, "/user/writer/settings", email="not an address")
        email = refused(r, "email")
        assert email.value == "not an address" and "name@example.com" in email.message
        account = await wharf.rt.db.read(accounts.get_by_name, "writer")
        assert account is not None and account.email != "not an address"

        r = await v.submit(
            settings,
            "/user/writer/password",
            password=PW,
            new_password="short7!",
            new_password_again="short7!",
        )
        short = refused(r, "new_password")
        assert short.value is None and "at least 8 characters" in short.message
        assert "short7!" not in r.text  # passwords are never sent back
        await v.close()
        v = Visitor(wharf)
        await v.sign_in("writer", PW)  # the password did not change
    finally:
        await v.close()


async def test_repository_settings_keep_what_was_typed(owner: Visitor, wharf: WharfApp) -> None:
    settings = "/repository/acme/app?tab=settings"
    action = "/repository/acme/app/settings/"
    r = await owner.submit(settings, action + "grant", kind="user", name="ghost", role="write")
    name = refused(r, "name")
    assert name.value == "ghost" and "no user or robot named" in name.message
    assert r.text.count('aria-invalid="true"') == 1  # the team form's list is left alone

    long_text = "x" * (256 * 1024 + 1)
    r = await owner.submit(settings, action + "description", description=long_text)
    refused(r, "description")
    assert long_text + "</textarea>" in r.text
    repo = await wharf.rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    assert await wharf.rt.db.read(repositories.description, repo.id) != long_text


async def test_oauth_applications(owner: Visitor, wharf: WharfApp) -> None:
    tab = "/organization/acme?tab=applications"
    r = await owner.submit(
        tab,
        "/organization/acme/applications/new",
        name="CI",
        redirect_uri="ftp://ci.example/cb",
        description="d",
    )
    redirect = refused(r, "redirect_uri")
    assert redirect.value == "ftp://ci.example/cb" and "http:// or https://" in redirect.message
    assert "https://ci.example.com/oauth/callback" in redirect.message  # what is allowed
    assert 'value="CI"' in r.text and '<details class="actions card" open>' in r.text
    acme = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert acme is not None and await wharf.rt.db.read(applications.list_for_org, acme.id) == []

    r = await owner.submit(tab, "/organization/acme/applications/new", name=" ", application_uri="https://a")
    name = refused(r, "name")
    assert "1 to 255 characters" in name.message
    long = "https://ci.example/" + "x" * 2048
    app_page = (await owner.submit(tab, "/organization/acme/applications/new", name="CI")).headers["location"]

    r = await owner.submit(app_page, f"{app_page}/update", name="CI two", application_uri=long)
    address = refused(r, "application_uri")
    assert address.value == long and "up to 2048 characters" in address.message
    assert 'value="CI two"' in r.text  # the other fields as typed, not as saved
    [saved] = await wharf.rt.db.read(applications.list_for_org, acme.id)
    assert saved.name == "CI" and saved.application_uri == ""

    r = await owner.submit(app_page, f"{app_page}/token", title="x" * 256)
    title = refused(r, "title")
    assert title.value == "x" * 256 and "255 characters" in title.message
    r = await owner.submit(app_page, f"{app_page}/token", title="deploys")
    assert r.status_code == 422 and "Choose at least one scope for the token. Tick at least one" in r.text
    assert 'value="deploys"' in r.text


async def test_default_permissions(owner: Visitor, wharf: WharfApp) -> None:
    tab = "/organization/acme?tab=defaultperms"
    new = "/organization/acme/defaultperms/new"
    r = await owner.submit(tab, new, delegate_kind="user", user="ghost", role="write", activating="")
    user = refused(r, "user")
    assert user.value == "ghost" and "No user or robot named 'ghost'" in user.message
    assert "robots as organization+name" in user.message
    assert 'value="user" checked' in r.text and 'value="write" selected' in r.text

    r = await owner.submit(tab, new, delegate_kind="team", team="readers", role="read", activating="nobody")
    activating = refused(r, "activating")
    assert activating.value == "nobody" and "No user named 'nobody'" in activating.message

    r = await owner.submit(tab, new, delegate_kind="user", user="", role="read")
    assert "Whom should the permission go to?" in refused(r, "user").message
    acme = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert acme is not None and await wharf.rt.db.read(prototypes.list_for, acme) == []

    # a row's role: the message next to that row's list
    r = await owner.submit(tab, new, delegate_kind="team", team="readers", role="read")
    assert r.status_code == 303
    [made] = await wharf.rt.db.read(prototypes.list_for, acme)
    role = f"/organization/acme/defaultperms/{made.id}/role"
    form = await owner.form(tab, role)
    r = await owner.http.post(role, data={**form.fields, "role": "owner"})
    assert "Choose read, write or admin" in refused(r, "role").message
    [kept] = await wharf.rt.db.read(prototypes.list_for, acme)
    assert kept.role == "read"


async def test_robot_roles_and_federation(owner: Visitor, wharf: WharfApp) -> None:
    assert (
        await owner.submit("/organization/acme?tab=robots", "/organization/acme/robots/new", name="ci")
    ).status_code == 303
    page = "/organization/acme/robots/ci"
    form = await owner.form(page, f"{page}/permissions")
    r = await owner.http.post(
        f"{page}/permissions", data={**form.fields, "repository": "app", "role": "owner"}
    )
    role = refused(r, "role")
    assert "Choose read, write, admin, or none" in role.message
    assert 'value="app" id="repo-1" checked' in r.text  # the ticked box stays ticked
    r = await owner.http.post(f"{page}/permissions", data={**form.fields, "role": "write"})
    assert r.status_code == 422 and "No repository was ticked" in r.text and 'role="alert"' in r.text
    assert 'value="write" selected' in r.text

    form = await owner.form(page, f"{page}/federation")
    issuer = "https://token.actions.githubusercontent.com"
    rows = {"issuer": [issuer, "", "token.example"], "subject": ["", "", "repo:acme/app"]}
    r = await owner.http.post(f"{page}/federation", data={**form.fields, **rows})
    subject = refused(r, "subject")
    assert subject.value == "" and "Each row needs a subject" in subject.message
    issuer_error = _Page()
    issuer_error.feed(r.text)
    assert issuer_error.invalid["issuer"]["value"] == "token.example"  # the third row, as typed
    third = Entered(f"{page}/federation").error_id("issuer.2")
    assert "That is not an issuer URL" in issuer_error.texts[third]
    robot = await wharf.rt.db.read(robots.get_by_name, "acme+ci")
    assert robot is not None and await wharf.rt.db.read(robots.federation, robot.account.id) == []


async def test_a_stale_login_is_asked_its_password_on_the_form(owner: Visitor, wharf: WharfApp) -> None:
    def age(db: Db) -> None:
        db.execute(update(WebSession).values(login_ms=now_ms() - 3_600_000))

    await wharf.rt.db.write(age)
    settings = "/organization/acme?tab=settings"
    r = await owner.submit(settings, "/organization/acme/delete", confirm="acme", password="")
    missing = refused(r, "password")
    assert missing.value is None and "type your password to confirm it is you" in missing.message
    assert 'value="acme"' in r.text  # the confirmation is kept
    r = await owner.submit(settings, "/organization/acme/delete", confirm="acme", password="wrong-password")
    wrong = refused(r, "password")
    assert "That password is wrong" in wrong.message and "wrong-password" not in r.text
    assert await wharf.rt.db.read(orgs.get, "acme") is not None

    r = await owner.submit(
        "/repository/acme/app?tab=settings",
        "/repository/acme/app/settings/delete",
        confirm="acme/app",
        password="",
    )
    assert "type your password" in refused(r, "password").message
    assert await wharf.rt.db.read(repositories.get, "acme", "app") is not None


async def test_the_skip_link_of_a_refused_page_stays_on_it(owner: Visitor) -> None:
    """The refused page has a <base> (its links are the page's): the skip link names the address
    the page is served at, so following it moves the focus and does not load the page again."""
    r = await owner.submit("/organization/acme?tab=settings", "/organization/acme/delete", confirm="acm")
    assert r.status_code == 422
    assert '<a class="skip" href="/organization/acme/delete#content" data-in-page>' in r.text
    plain = (await owner.get("/organization/acme?tab=settings")).text
    assert '<a class="skip" href="#content" data-in-page>' in plain

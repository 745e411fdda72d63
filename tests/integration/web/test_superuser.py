"""The superuser panel, global messages (UI and /api/v1/messages) and the notifications page."""

from __future__ import annotations

import re

from sqlalchemy import update

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World, api_token
from wharf.app import WharfApp
from wharf.core import accounts, inbox
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import WebSession


async def test_create_user_shows_password_once_and_it_works(admin: Visitor, wharf: WharfApp) -> None:
    r = await admin.submit("/superuser", "/superuser/users", username="newbie", email="newbie@example.com")
    assert r.status_code == 201
    password = re.search(r'data-copy="([^"]+)"', r.text)
    assert password is not None
    assert "shown only this once" in r.text
    assert password.group(1) not in (await admin.get("/superuser")).text
    newbie = Visitor(wharf)
    try:
        await newbie.sign_in("newbie", password.group(1))
    finally:
        await newbie.close()
    again = await admin.submit("/superuser", "/superuser/users", username="newbie")
    assert again.status_code == 409
    bad = await admin.submit("/superuser", "/superuser/users", username="Bad Name!")
    assert bad.status_code == 400 and "usernames are" in bad.text


async def test_disable_password_delete_and_the_rules(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.create_user("victim", PW)
    page = "/superuser?tab=users"
    r = await admin.submit(page, "/superuser/users/victim/disable")
    assert r.status_code == 303
    account = await wharf.rt.db.read(accounts.get_by_name, "victim")
    assert account is not None and not account.enabled
    r = await admin.submit(page, "/superuser/users/victim/enable")
    r = await admin.submit(page, "/superuser/users/victim/password", password="short")
    assert r.status_code == 400 and "at least 8" in r.text
    r = await admin.submit(page, "/superuser/users/victim/password", password="a-new-password")
    assert r.status_code == 303
    victim = Visitor(wharf)
    try:
        await victim.sign_in("victim", "a-new-password")
    finally:
        await victim.close()

    form = await admin.form(page, "/superuser/users/victim/delete")
    refused = await admin.http.post("/superuser/users/admin/disable", data=form.fields)
    assert refused.status_code == 403 and "your own account" in refused.text
    refused = await admin.http.post("/superuser/users/admin/delete", data=form.fields)
    assert refused.status_code == 403 and "superusers cannot be deleted" in refused.text.lower()
    r = await admin.http.post("/superuser/users/victim/delete", data=form.fields)
    assert r.status_code == 303
    assert await wharf.rt.db.read(accounts.get_by_name, "victim") is None
    r = await admin.http.post("/superuser/users/victim/delete", data=form.fields)
    assert r.status_code == 404


async def test_organizations_take_ownership_and_delete(admin: Visitor, world: World, wharf: WharfApp) -> None:
    page = "/superuser?tab=organizations"
    assert "acme" in (await admin.get(page)).text
    r = await admin.submit(page, "/superuser/organizations/acme/take_ownership")
    assert r.status_code == 303
    r = await admin.submit(page, "/superuser/organizations/acme/delete")
    assert r.status_code == 303
    assert await wharf.rt.db.read(accounts.get_by_name, "acme") is None


async def test_the_panel_is_hidden_from_everyone_else(world: World, wharf: WharfApp) -> None:
    owner, anonymous = Visitor(wharf), Visitor(wharf)
    try:
        await owner.sign_in("owner", PW)
        assert (await owner.get("/superuser")).status_code == 404
        form = await owner.form("/", "/signout")
        r = await owner.http.post("/superuser/users", data={**form.fields, "username": "sneaky"})
        assert r.status_code == 404
        assert await wharf.rt.db.read(accounts.get_by_name, "sneaky") is None
        assert (await anonymous.get("/superuser")).status_code == 303
    finally:
        await owner.close()
        await anonymous.close()


async def test_global_messages_in_the_ui_and_the_api(admin: Visitor, world: World, wharf: WharfApp) -> None:
    page = "/superuser?tab=messages"
    r = await admin.submit(
        page,
        "/superuser/messages",
        content="Maintenance **tonight** <script>x()</script>",
        severity="warning",
    )
    assert r.status_code == 303
    anonymous = Visitor(wharf)
    try:
        shown = (await anonymous.get("/signin")).text
        assert 'class="banner warning"' in shown and "<strong>tonight</strong>" in shown
        assert "<script>x()" not in shown
    finally:
        await anonymous.close()

    listed = (await world.reg.http.get("/api/v1/messages")).json()["messages"]
    assert len(listed) == 1 and listed[0]["severity"] == "warning"
    uuid = listed[0]["uuid"]
    owner_api = await api_token(world.reg, "owner")
    body = {"message": {"content": "hi", "media_type": "text/plain", "severity": "info"}}
    assert (await world.reg.http.post("/api/v1/messages", json=body, headers=owner_api)).status_code == 403
    assert (
        await world.reg.http.post("/api/v1/messages", json=body, headers=world.api["admin"])
    ).status_code == 201
    bad = {"message": {"content": "hi", "severity": "loud"}}
    assert (
        await world.reg.http.post("/api/v1/messages", json=bad, headers=world.api["admin"])
    ).status_code == 400
    assert (await world.reg.http.delete(f"/api/v1/message/{uuid}", headers=owner_api)).status_code == 403
    assert (
        await world.reg.http.delete(f"/api/v1/message/{uuid}", headers=world.api["admin"])
    ).status_code == 204
    assert (
        await world.reg.http.delete(f"/api/v1/message/{uuid}", headers=world.api["admin"])
    ).status_code == 404

    form = await admin.form(page, "/superuser/messages")
    remaining = (await world.reg.http.get("/api/v1/messages")).json()["messages"]
    r = await admin.http.post(f"/superuser/messages/{remaining[0]['uuid']}/delete", data=form.fields)
    assert r.status_code == 303
    assert (await world.reg.http.get("/api/v1/messages")).json()["messages"] == []


async def test_notifications_page_and_bell(admin: Visitor, wharf: WharfApp) -> None:
    assert "Nothing here yet" in (await admin.get("/notifications")).text
    account = await wharf.rt.db.read(accounts.get_by_name, "admin")
    assert account is not None
    await wharf.rt.db.write(inbox.add, [account.id], "repo_push", {"summary": "Push to <admin/app>"})
    home = (await admin.get("/")).text
    assert '<span class="count">1</span>' in home
    page = (await admin.get("/notifications")).text
    assert "Push to &lt;admin/app&gt;" in page
    item = (await wharf.rt.db.read(inbox.list_for, account.id, offset=0, limit=1))[0]
    r = await admin.submit("/notifications", f"/notifications/{item.uuid}/dismiss")
    assert r.status_code == 303
    assert '<span class="count">' not in (await admin.get("/")).text
    form = await admin.form("/notifications", f"/notifications/{item.uuid}/dismiss")
    r = await admin.http.post("/notifications/not-a-uuid/dismiss", data=form.fields)
    assert r.status_code == 404


async def test_deleting_with_an_old_login_asks_for_the_password(
    admin: Visitor, reg: RegistryClient, world: World, wharf: WharfApp
) -> None:
    await reg.create_user("victim", PW)

    def age_sessions(db: Db) -> None:
        db.execute(update(WebSession).values(login_ms=now_ms() - 3_600_000))

    await wharf.rt.db.write(age_sessions)
    page = "/superuser?tab=users"
    form = await admin.form(page, "/superuser/users/victim/delete")
    assert "password" in form.fields  # the form asks for it
    r = await admin.http.post("/superuser/users/victim/delete", data={**form.fields, "password": ""})
    assert r.status_code == 422 and "type your password to confirm it is you" in r.text
    r = await admin.http.post(
        "/superuser/users/victim/delete", data={**form.fields, "password": "wrong-password"}
    )
    assert r.status_code == 422 and "That password is wrong" in r.text
    assert await wharf.rt.db.read(accounts.get_by_name, "victim") is not None
    r = await admin.http.post(
        "/superuser/users/victim/delete", data={**form.fields, "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 303
    # the login is fresh again: the next dangerous form does not ask
    orgs_form = await admin.form("/superuser?tab=organizations", "/superuser/organizations/acme/delete")
    assert "password" not in orgs_form.fields

"""Team invitations over Quay's API (FEATURE_REQUIRE_TEAM_INVITE, Quay's default): an outsider added
to a team is invited, in the app and by e-mail, and joins only by accepting; an e-mail address
with no account is invited by mail; codes work once, expire, and only for their invitee."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import Clock
from tests.integration.world import World, api_token
from tests.receivers import Mailbox, plain_text, smtp_server
from wharf.config import Settings, load_settings

TEAM = "/api/v1/organization/acme/team"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(None, {"DATA_DIR": data_dir, "DB_URI": db_uri, **mailbox.settings()}, environ={})


def _code_in(mailbox: Mailbox, start: int, to: str) -> str:
    message = mailbox.wait_for(start + 1)[start]
    assert message["To"] == to
    found = re.search(r"/teaminvite\?code=([A-Za-z0-9_-]+)", plain_text(message))
    assert found, plain_text(message)
    return found.group(1)


async def _members(world: World, team: str, *, pending: bool = True) -> list[dict[str, object]]:
    r = await world.reg.http.get(
        f"{TEAM}/{team}/members", params={"includePending": str(pending).lower()}, headers=world.api["owner"]
    )
    assert r.status_code == 200, r.text
    members: list[dict[str, object]] = r.json()["members"]
    return members


async def _log_kinds(world: World) -> list[str]:
    r = await world.reg.http.get("/api/v1/organization/acme/logs", headers=world.api["owner"])
    assert r.status_code == 200, r.text
    return [entry["kind"] for entry in r.json()["logs"]]


async def test_an_outsider_is_invited_and_joins_by_accepting(world: World, mailbox: Mailbox) -> None:
    http, owner, outsider = world.reg.http, world.api["owner"], world.api["outsider"]
    start = len(mailbox.messages)
    r = await http.put(f"{TEAM}/writers/members/outsider", headers=owner)
    assert r.status_code == 200, r.text
    assert r.json()["invited"] is True and r.json()["name"] == "outsider"
    code = _code_in(mailbox, start, "outsider@example.com")

    assert {"name": "outsider", "invited": True} in [
        {"name": m.get("name"), "invited": m["invited"]} for m in await _members(world, "writers")
    ]
    assert "outsider" not in [m["name"] for m in await _members(world, "writers", pending=False)]
    inbox = (await http.get("/api/v1/user/notifications", headers=outsider)).json()["notifications"]
    invite = next(n for n in inbox if n["kind"] == "org_team_invite")
    assert invite["metadata"]["org"] == "acme" and invite["metadata"]["team"] == "writers"

    # Someone else holding the code cannot take the invitation.
    stolen = await http.put(f"/api/v1/teaminvite/{code}", headers=world.api["reader"])
    assert stolen.status_code == 403, stolen.text

    r = await http.put(f"/api/v1/teaminvite/{code}", headers=outsider)
    assert r.status_code == 200, r.text
    assert r.json() == {"org": "acme", "team": "writers"}
    assert "outsider" in [m["name"] for m in await _members(world, "writers", pending=False)]
    assert all(not m["invited"] for m in await _members(world, "writers"))
    # The code is used up, and the inbox item went with it.
    again = await http.put(f"/api/v1/teaminvite/{code}", headers=outsider)
    assert again.status_code == 404
    inbox = (await http.get("/api/v1/user/notifications", headers=outsider)).json()["notifications"]
    assert not [n for n in inbox if n["kind"] == "org_team_invite"]
    kinds = await _log_kinds(world)
    assert "org_invite_team_member" in kinds and "org_team_member_invite_accepted" in kinds


async def test_declining_and_withdrawing(world: World, mailbox: Mailbox) -> None:
    http, owner, outsider = world.reg.http, world.api["owner"], world.api["outsider"]
    start = len(mailbox.messages)
    assert (await http.put(f"{TEAM}/writers/members/outsider", headers=owner)).json()["invited"]
    code = _code_in(mailbox, start, "outsider@example.com")
    r = await http.delete(f"/api/v1/teaminvite/{code}", headers=outsider)
    assert r.status_code == 204, r.text
    assert "outsider" not in [m["name"] for m in await _members(world, "writers")]
    assert (await http.put(f"/api/v1/teaminvite/{code}", headers=outsider)).status_code == 404

    # An administrator removing an invited user withdraws the invitation (as on Quay).
    start = len(mailbox.messages)
    assert (await http.put(f"{TEAM}/writers/members/outsider", headers=owner)).json()["invited"]
    code = _code_in(mailbox, start, "outsider@example.com")
    assert (await http.delete(f"{TEAM}/writers/members/outsider", headers=owner)).status_code == 204
    assert (await http.put(f"/api/v1/teaminvite/{code}", headers=outsider)).status_code == 404
    kinds = await _log_kinds(world)
    assert "org_team_member_invite_declined" in kinds and "org_delete_team_member_invite" in kinds


async def test_an_address_without_an_account_is_invited_by_mail(world: World, mailbox: Mailbox) -> None:
    http, owner = world.reg.http, world.api["owner"]
    start = len(mailbox.messages)
    r = await http.put(f"{TEAM}/readers/invite/newcomer@example.org", headers=owner)
    assert r.status_code == 200, r.text
    assert (
        r.json()["kind"] == "invite" and r.json()["email"] == "newcomer@example.org" and r.json()["invited"]
    )
    code = _code_in(mailbox, start, "newcomer@example.org")
    assert any(m.get("email") == "newcomer@example.org" for m in await _members(world, "readers"))

    # The newcomer signs up, then opens the link: the code is what makes the invitation theirs.
    await world.reg.create_user("newcomer", "newcomer-password")
    newcomer = await api_token(world.reg, "newcomer")
    r = await http.put(f"/api/v1/teaminvite/{code}", headers=newcomer)
    assert r.status_code == 200, r.text
    assert "newcomer" in [m["name"] for m in await _members(world, "readers", pending=False)]
    assert (await http.put(f"/api/v1/teaminvite/{code}", headers=world.api["outsider"])).status_code == 404

    assert (await http.delete(f"{TEAM}/readers/invite/nobody@example.org", headers=owner)).status_code == 404
    assert (await http.put(f"{TEAM}/readers/invite/later@example.org", headers=owner)).status_code == 200
    assert (await http.delete(f"{TEAM}/readers/invite/later@example.org", headers=owner)).status_code == 204
    assert not any(m.get("email") for m in await _members(world, "readers"))
    bad = await http.put(f"{TEAM}/readers/invite/not-an-address", headers=owner)
    assert bad.status_code == 400
    # Only the organization's administrators invite.
    assert (
        await http.put(f"{TEAM}/readers/invite/x@example.org", headers=world.api["reader"])
    ).status_code == 403


async def test_an_invitation_expires(world: World, mailbox: Mailbox, clock: Clock) -> None:
    http, owner = world.reg.http, world.api["owner"]
    start = len(mailbox.messages)
    assert (await http.put(f"{TEAM}/makers/members/outsider", headers=owner)).json()["invited"]
    code = _code_in(mailbox, start, "outsider@example.com")
    clock.advance(8 * 24 * 3600)
    assert not any(m["invited"] for m in await _members(world, "makers"))
    r = await http.put(f"/api/v1/teaminvite/{code}", headers=world.api["outsider"])
    assert r.status_code == 404
    assert "outsider" not in [m["name"] for m in await _members(world, "makers", pending=False)]


async def test_robots_and_members_of_the_organization_join_directly(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/bot", headers=owner)).status_code in (200, 201)
    r = await http.put(f"{TEAM}/writers/members/acme+bot", headers=owner)
    assert r.status_code == 200 and r.json()["invited"] is False and r.json()["is_robot"] is True
    r = await http.put(f"{TEAM}/writers/members/reader", headers=owner)  # already in readers
    assert r.status_code == 200 and r.json()["invited"] is False
    names = [m["name"] for m in await _members(world, "writers", pending=False)]
    assert "acme+bot" in names and "reader" in names

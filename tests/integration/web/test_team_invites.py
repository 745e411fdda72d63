"""Team invitations in the browser: the team page's pending invitations (invite by e-mail,
cancel), the page the e-mail links to (sign in first, then accept or decline), and someone else's
invitation refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from tests.receivers import Mailbox, plain_text, smtp_server
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import accounts, teams

TEAM = "/organization/acme/teams/readers"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(None, {"DATA_DIR": data_dir, "DB_URI": db_uri, **mailbox.settings()}, environ={})


async def _visitor(wharf: WharfApp, user: str, password: str = PW) -> Visitor:
    v = Visitor(wharf)
    await v.sign_in(user, password)
    return v


def _link(mailbox: Mailbox, start: int) -> str:
    found = re.search(
        r"https?://[^/\s]+(/teaminvite\?code=[A-Za-z0-9_-]+)", plain_text(mailbox.wait_for(start + 1)[start])
    )
    assert found
    return found.group(1)


async def _members_of(wharf: WharfApp, team: str) -> list[str]:
    org = await wharf.rt.db.read(accounts.get_by_name, "acme")
    assert org is not None
    found = await wharf.rt.db.read(teams.get, org.id, team)
    assert found is not None
    return [n for n, _ in await wharf.rt.db.read(teams.member_names, found)]


async def test_invite_an_address_then_sign_up_and_accept(
    wharf: WharfApp, world: World, mailbox: Mailbox
) -> None:
    owner = await _visitor(wharf, "owner")
    start = len(mailbox.messages)
    r = await owner.submit(TEAM, f"{TEAM}/invite-email", email="fresh@example.org")
    assert r.status_code == 303
    page = (await owner.get(TEAM)).text
    assert "Invited fresh@example.org" in page and "fresh@example.org" in page and "Cancel invitation" in page
    link = _link(mailbox, start)

    # Opened before signing in: the sign-in page, which comes back here.
    anonymous = Visitor(wharf)
    r = await anonymous.get(link)
    assert r.status_code in (302, 303) and "/signin?redirect_url=" in r.headers["location"]

    await world.reg.create_user("fresh", "fresh-password")
    fresh = await _visitor(wharf, "fresh", "fresh-password")
    page = (await fresh.get(link)).text
    assert "Join team readers of acme?" in page and "owner</strong> invites you" in page
    r = await fresh.submit(link, "/teaminvite/accept")
    assert r.status_code == 303 and r.headers["location"] == TEAM
    assert "fresh" in await _members_of(wharf, "readers")
    # Used up.
    again = await fresh.get(link)
    assert again.status_code == 404 and "does not work" in again.text
    for v in (owner, anonymous, fresh):
        await v.close()


async def test_cancel_decline_and_someone_elses_invitation(
    wharf: WharfApp, world: World, mailbox: Mailbox
) -> None:
    owner = await _visitor(wharf, "owner")
    start = len(mailbox.messages)
    assert (await owner.submit(TEAM, f"{TEAM}/add-member", member="outsider")).status_code == 303
    link = _link(mailbox, start)

    # Another user who got hold of the link is refused.
    reader = await _visitor(wharf, "reader")
    r = await reader.get(link)
    assert r.status_code == 403 and "another user" in r.text

    outsider = await _visitor(wharf, "outsider")
    assert "Accept" in (await outsider.get("/notifications")).text
    r = await outsider.submit("/notifications", "/teaminvite/decline")
    assert r.status_code == 303
    assert "outsider" not in await _members_of(wharf, "readers")
    assert "Cancel invitation" not in (await owner.get(TEAM)).text

    # Invited again, then withdrawn by the administrator: the link stops working.
    start = len(mailbox.messages)
    assert (await owner.submit(TEAM, f"{TEAM}/add-member", member="outsider")).status_code == 303
    link = _link(mailbox, start)
    r = await owner.submit(TEAM, f"{TEAM}/cancel-invite")
    assert r.status_code == 303
    assert "Withdrew the invitation of outsider" in (await owner.get(TEAM)).text
    assert (await outsider.get(link)).status_code == 404
    for v in (owner, reader, outsider):
        await v.close()

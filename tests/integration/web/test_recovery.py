"""Password recovery in the browser: the sign-in page's link, the request page that says the same
for every address, the reset page reached from the mail, mismatched and short passwords refused
on the form, the old session ended, and a used link refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from tests.receivers import Mailbox, plain_text, smtp_server
from wharf.app import WharfApp
from wharf.config import Settings, load_settings


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(None, {"DATA_DIR": data_dir, "DB_URI": db_uri, **mailbox.settings()}, environ={})


async def test_forgot_password_to_a_new_one(wharf: WharfApp, world: World, mailbox: Mailbox) -> None:
    signed_in = Visitor(wharf)
    await signed_in.sign_in("reader", PW)
    assert (await signed_in.get("/api/v1/user/")).status_code == 200

    v = Visitor(wharf)
    assert 'href="/recovery"' in (await v.get("/signin")).text
    start = len(mailbox.messages)
    unknown = await v.submit("/recovery", "/recovery", email="nobody@example.org")
    known = await v.submit("/recovery", "/recovery", email="reader@example.com")
    assert unknown.status_code == known.status_code == 200
    assert "If an account has this address" in unknown.text and "If an account has this address" in known.text
    message = mailbox.wait_for(start + 1)[start]
    assert message["To"] == "reader@example.com"
    found = re.search(r"https?://[^/\s]+(/recovery/reset\?code=[A-Za-z0-9_-]+)", plain_text(message))
    assert found
    link = found.group(1)

    page = await v.get(link)
    assert page.status_code == 200 and "<strong>reader</strong>" in page.text
    differ = await v.submit(link, "/recovery/reset", password="new-password-1", confirm="new-password-2")
    assert differ.status_code == 422 and "The two passwords differ" in differ.text
    short = await v.submit(link, "/recovery/reset", password="short", confirm="short")
    assert short.status_code == 422 and "at least" in short.text
    r = await v.submit(link, "/recovery/reset", password="new-password-1", confirm="new-password-1")
    assert r.status_code == 303 and r.headers["location"] == "/signin"

    # The session opened with the old password is over; the new password signs in.
    assert (await signed_in.get("/api/v1/user/")).status_code == 401
    await v.sign_in("reader", "new-password-1")
    used = await v.get(link)
    assert used.status_code == 404 and "does not work" in used.text
    for each in (signed_in, v):
        await each.close()

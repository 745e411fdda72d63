"""requestRecoveryEmail (POST /api/v1/recovery): the same answer for every address, a mail only to
an account's, single-use and short-lived codes, a per-client limit, and nothing for directory
logins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.conftest import Clock
from tests.integration.world import World
from tests.receivers import Mailbox, plain_text, smtp_server
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import recovery
from wharf.core.errors import NotAllowed, NotFound
from wharf.services import recovery as recovery_service


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(None, {"DATA_DIR": data_dir, "DB_URI": db_uri, **mailbox.settings()}, environ={})


def code_of(mailbox: Mailbox, start: int, to: str) -> str:
    message = mailbox.wait_for(start + 1)[start]
    assert message["To"] == to
    found = re.search(r"/recovery/reset\?code=([A-Za-z0-9_-]+)", plain_text(message))
    assert found, plain_text(message)
    return found.group(1)


async def test_same_answer_for_every_address_and_a_mail_only_to_accounts(
    world: World, mailbox: Mailbox
) -> None:
    http = world.reg.http
    start = len(mailbox.messages)
    nobody = await http.post("/api/v1/recovery", json={"email": "nobody@example.org"})
    someone = await http.post("/api/v1/recovery", json={"email": "Reader@Example.com"})
    assert nobody.status_code == someone.status_code == 200
    assert nobody.json() == someone.json() == {"status": "sent"}
    code = code_of(mailbox, start, "reader@example.com")
    # Asked again at once: the same answer, no second mail (the next mail is writer's).
    assert (await http.post("/api/v1/recovery", json={"email": "reader@example.com"})).json() == {
        "status": "sent"
    }
    assert (await http.post("/api/v1/recovery", json={"email": "writer@example.com"})).status_code == 200
    code_of(mailbox, start + 1, "writer@example.com")
    assert len(mailbox.messages) == start + 2
    # A disabled account gets nothing either; then the address limit refuses this client.
    assert (await http.post("/api/v1/recovery", json={"email": "disabled@example.com"})).status_code == 200
    assert recovery.ADDRESS_LIMIT == 5
    refused = await http.post("/api/v1/recovery", json={"email": "owner@example.com"})
    assert refused.status_code == 429 and refused.json()["error_type"] == "too_many_requests"

    account = await world.reg.wharf.rt.db.read(recovery.holder, code)
    assert account.name == "reader"


async def test_a_code_resets_once_ends_every_token_and_expires(
    wharf: WharfApp, world: World, mailbox: Mailbox, clock: Clock
) -> None:
    http, rt = world.reg.http, wharf.rt
    assert (await http.get("/api/v1/user/", headers=world.api["reader"])).status_code == 200
    start = len(mailbox.messages)
    await http.post("/api/v1/recovery", json={"email": "reader@example.com"})
    code = code_of(mailbox, start, "reader@example.com")
    account = await recovery_service.reset(rt, code, "a-brand-new-password", "10.0.0.1")
    assert account.name == "reader"
    # Every token of the account stopped working; the new password works.
    assert (await http.get("/api/v1/user/", headers=world.api["reader"])).status_code == 401
    assert (
        await http.get(
            "/v2/auth", params={"service": "registry.test"}, auth=("reader", "a-brand-new-password")
        )
    ).status_code == 200
    with pytest.raises(NotFound):
        await recovery_service.reset(rt, code, "yet-another-password", None)

    start = len(mailbox.messages)
    await http.post("/api/v1/recovery", json={"email": "writer@example.com"})
    late = code_of(mailbox, start, "writer@example.com")
    clock.advance(recovery.LIFETIME_MS / 1000 + 1)
    with pytest.raises(NotFound):
        await recovery_service.reset(rt, late, "too-late-password", None)


async def test_directory_logins_are_not_recovered_here(wharf: WharfApp) -> None:
    ldap = replace(wharf.rt, settings=wharf.rt.settings.model_copy(update={"AUTHENTICATION_TYPE": "LDAP"}))
    with pytest.raises(NotAllowed, match="directory"):
        await recovery_service.request(ldap, "reader@example.com", None, None)
    silent = replace(wharf.rt, settings=wharf.rt.settings.model_copy(update={"MAIL_SERVER": None}))
    with pytest.raises(recovery_service.MailUnavailable):
        await recovery_service.request(silent, "reader@example.com", None, None)

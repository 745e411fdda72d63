"""The services (src/wharf/services/) called directly, without HTTP: what each decides on its own
before it writes (the callbacks of a log export, a notification's method, the mail an address
confirmation needs), and the "repository accepts writes" rule that core checks inside the write
transaction. A real database and a real SMTP server (aiosmtpd); the surfaces' wording of the same
errors is tested beside each surface."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import TEST_HOSTNAME
from tests.receivers import Mailbox, smtp_server
from wharf.app import WharfApp
from wharf.config import Settings, load_settings
from wharf.core import accounts, audit, log_exports, logs, repositories, tag_changes
from wharf.core.errors import InvalidInput, ReadOnly
from wharf.core.repositories import RepositoryRecord
from wharf.runtime import Runtime
from wharf.services import address_confirmation
from wharf.services import log_exports as export_service
from wharf.services import notifications as notification_service
from wharf.services import repositories as repository_service

BY = audit.Actor(None, "admin", "127.0.0.1", origin=f"http://{TEST_HOSTNAME}")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    config: dict[str, Any] = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "WEBHOOK_HOSTNAME_BLACKLIST": ["blocked.example"],
        **mailbox.settings(),
    }
    return load_settings(None, config, environ={})


async def _repository(rt: Runtime, name: str = "services") -> RepositoryRecord:
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    return await repository_service.create(
        rt, "admin", name, visibility="private", description=None, creator_id=admin.id, by=BY
    )


async def test_a_write_is_refused_when_the_state_changed_after_the_surface_looked(wharf: WharfApp) -> None:
    """A surface checks the state with the record it read; core checks again in the writing
    transaction, so a repository set READ_ONLY (or MIRROR) in between takes no change."""
    rt = wharf.rt
    seen = await _repository(rt)
    assert seen.state == repositories.NORMAL
    await rt.db.write(repositories.set_state, seen, repositories.READ_ONLY, BY)
    digest = "sha256:" + "0" * 64
    for change in (
        lambda db: tag_changes.point(db, seen, "latest", digest, BY),
        lambda db: tag_changes.delete(db, seen, "latest", BY),
        lambda db: tag_changes.set_expiration(db, seen, "latest", None, BY),
        lambda db: tag_changes.set_immutable(db, seen, "latest", True, BY),
        lambda db: tag_changes.add_label(db, seen, digest, "k", "v", None, BY),
        lambda db: tag_changes.remove_label(db, seen, digest, "no-such-label", BY),
        lambda db: repositories.set_description(db, seen, "text", BY),
    ):
        with pytest.raises(ReadOnly, match="READ_ONLY"):
            await rt.db.write(change)
    await rt.db.write(repositories.set_state, seen, repositories.MIRROR, BY)
    with pytest.raises(ReadOnly, match="MIRROR"):
        await rt.db.write(tag_changes.point, seen, "latest", digest, BY)


async def test_a_log_export_checks_its_callbacks_before_it_is_queued(wharf: WharfApp) -> None:
    rt = wharf.rt
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    scope = logs.Scope(namespace_id=admin.id)

    async def start(url: str | None, email: str | None, **options: bool) -> log_exports.LogExportRecord:
        return await export_service.start(
            rt, admin.id, scope, ("admin", None), 0, logs.DAY_MS, url, email, **options
        )

    with pytest.raises(InvalidInput, match="callback_url or callback_email"):
        await start(None, None)
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        await start(None, "nobody")
    for refused in ("ftp://example.com/x", "http://blocked.example/x", "http://10.0.0.1/x", "http://[::1]/x"):
        with pytest.raises(export_service.CallbackRefused):
            await start(refused, None, resolve_url=False)

    export = await start("http://unresolved.invalid/hook", "ops@example.com", resolve_url=False)
    stored = await rt.db.read(log_exports.get, export.uuid)
    assert stored is not None and stored.state == log_exports.QUEUED
    assert (stored.callback_url, stored.callback_email) == (
        "http://unresolved.invalid/hook",
        "ops@example.com",
    )


async def test_a_log_export_by_mail_can_be_refused_where_no_mail_goes(wharf: WharfApp) -> None:
    """The web's form refuses an e-mail callback on a registry without MAIL_SERVER; the API
    accepts it (as Quay), and the export then fails saying why."""
    rt = wharf.rt
    silent = replace(rt, settings=rt.settings.model_copy(update={"MAIL_SERVER": None}))
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    scope = logs.Scope(namespace_id=admin.id)
    args = (admin.id, scope, ("admin", None), 0, logs.DAY_MS, None, "ops@example.com")
    with pytest.raises(export_service.MailOff):
        await export_service.start(silent, *args, refuse_email_without_mail=True)
    assert (await export_service.start(silent, *args)).state == log_exports.QUEUED
    assert (await export_service.start(rt, *args, refuse_email_without_mail=True)).state == log_exports.QUEUED


async def test_a_notification_is_checked_created_and_tested(wharf: WharfApp) -> None:
    rt = wharf.rt
    repo = await _repository(rt)
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None

    async def create(method: str, config: dict[str, Any], on: Runtime = rt) -> Any:
        return await notification_service.create(on, admin, repo, "repo_push", method, config, {}, None, BY)

    with pytest.raises(notification_service.InvalidMethodConfig):
        await create("webhook", {"url": "ftp://example.com/hook"})
    with pytest.raises(notification_service.InvalidMethodConfig):
        await create("webhook", {"url": "http://blocked.example/hook"})
    silent = replace(rt, settings=rt.settings.model_copy(update={"MAIL_SERVER": None}))
    with pytest.raises(notification_service.MailOff):
        await create("email", {"email": "ops@example.com"}, on=silent)
    with pytest.raises(notification_service.EmailNotConfirmed):
        await create("email", {"email": "ops@example.com"})

    made = await create("webhook", {"url": "http://unresolved.invalid/hook"})
    tested = await notification_service.send_test(rt, admin, repo, made.uuid, BY)
    assert tested.uuid == made.uuid


async def test_an_address_confirms_through_the_link_it_is_mailed(wharf: WharfApp, mailbox: Mailbox) -> None:
    rt = wharf.rt
    repo = await _repository(rt)
    asked = await address_confirmation.ask(rt, repo, "ops@example.com", "admin", f"http://{TEST_HOSTNAME}")
    assert not asked.confirmed
    body = mailbox.wait_for(1)[0].get_content()
    code = re.search(r"/authrepoemail\?code=(\S+)", body)
    assert code is not None

    assert await address_confirmation.confirm(rt, "") is None
    assert await address_confirmation.confirm(rt, "not-a-code") is None
    confirmed = await address_confirmation.confirm(rt, code.group(1))
    assert confirmed is not None and confirmed.confirmed and confirmed.email == "ops@example.com"

    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    made = await notification_service.create(
        rt, admin, repo, "repo_push", "email", {"email": "ops@example.com"}, {}, None, BY
    )
    assert made.method == "email"

    silent = replace(rt, settings=rt.settings.model_copy(update={"MAIL_SERVER": None}))
    with pytest.raises(address_confirmation.MailUnavailable):
        await address_confirmation.ask(silent, repo, "other@example.com", "admin", None)

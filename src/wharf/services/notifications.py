"""Repository and namespace notifications: creating one (its method's settings checked, including
the addresses a URL names, before the row is written) and sending its test event.

The API and the settings page both call these; each says the errors in its own words."""

from __future__ import annotations

from typing import Any

from wharf.config import Settings
from wharf.core import audit, notifications
from wharf.core.accounts import AccountRecord
from wharf.core.errors import InvalidInput
from wharf.core.notifications import EmailNotConfirmed, NotificationRecord
from wharf.core.repositories import RepositoryRecord
from wharf.integrations import mail
from wharf.integrations.notification_methods import InvalidMethodConfig, validate
from wharf.runtime import Runtime

__all__ = [
    "EmailNotConfirmed",
    "InvalidMethodConfig",
    "MailOff",
    "create",
    "mail_enabled",
    "send_test",
]


class MailOff(InvalidInput):
    """An e-mail notification on a registry that sends no mail (no MAIL_SERVER)."""


def mail_enabled(settings: Settings) -> bool:
    """Whether this registry sends e-mail (MAIL_SERVER set): what the forms offer depends on it."""
    return mail.enabled(settings)


async def create(
    rt: Runtime,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    event: str,
    method: str,
    config: dict[str, Any],
    event_config: dict[str, Any],
    title: str | None,
    by: audit.Actor,
) -> NotificationRecord:
    """A notification of `repo` (or of the namespace, when None). Raises InvalidMethodConfig (the
    method's settings cannot work), MailOff, EmailNotConfirmed (the address has not agreed yet:
    services/address_confirmation.ask sends it the link) or another InvalidInput from core."""
    await validate(rt.settings, method, config)
    if method == "email" and not mail.enabled(rt.settings):
        raise MailOff("e-mail is not configured on this registry (MAIL_SERVER)")
    return await rt.db.write(
        notifications.set_up, rt.secrets, namespace, repo, event, method, config, event_config, title, by
    )


async def send_test(
    rt: Runtime, namespace: AccountRecord, repo: RepositoryRecord | None, uuid: str, by: audit.Actor
) -> NotificationRecord:
    """Queue the event's sample data, with this repository's (or namespace's) own names."""
    return await rt.db.write(notifications.send_test, namespace, repo, uuid, by)

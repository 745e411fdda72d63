"""Asking an e-mail address whether it wants a repository's notifications: the link it is sent
leads to /authrepoemail (web/email_confirmation.py). Used by the API and the settings page."""

from __future__ import annotations

from typing import Protocol

from wharf.config import Settings
from wharf.core import authorized_emails
from wharf.core.authorized_emails import EmailAuthorization
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database
from wharf.integrations import mail


class _Services(Protocol):
    """What this uses of the runtime (wharf.runtime.Runtime provides it; integrations sit below it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...


async def ask(
    rt: _Services, repo: RepositoryRecord, email: str, asked_by: str | None, origin: str | None
) -> EmailAuthorization:
    """Mail `email` a confirmation link pointing at `origin` (scheme://host the asker reached).
    Raises mail.MailUnavailable, mail.MailFailed, or InvalidInput for something not an address."""
    if not mail.enabled(rt.settings):
        raise mail.MailUnavailable("e-mail is not configured on this registry (MAIL_SERVER)")
    origin = origin or rt.settings.public_origin
    asked_by = asked_by or "An administrator"
    code = await rt.db.write(authorized_emails.request, repo, email)
    link = f"{origin}/authrepoemail?code={code}"
    text = (
        f"{asked_by} wants to send notifications of repository {repo.full_name} to this address.\n\n"
        f"To agree, open: {link}\n\nIf you did not expect this, ignore this message."
    )
    await mail.send(rt.settings, email.strip(), f"Confirm notifications of {repo.full_name}", text)
    found = await rt.db.read(authorized_emails.get, repo, email)
    assert found is not None
    return found

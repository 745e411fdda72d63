"""Asking an e-mail address whether it wants a repository's notifications, and its answer: the link
it is sent leads to /authrepoemail (web/email_confirmation.py). Used by the API and the settings page."""

from __future__ import annotations

from wharf.core import authorized_emails
from wharf.core.authorized_emails import EmailAuthorization
from wharf.core.repositories import RepositoryRecord
from wharf.integrations import mail
from wharf.integrations.mail import MailFailed, MailUnavailable
from wharf.runtime import Runtime

__all__ = ["MailFailed", "MailUnavailable", "ask", "confirm"]


async def ask(
    rt: Runtime, repo: RepositoryRecord, email: str, asked_by: str | None, origin: str | None
) -> EmailAuthorization:
    """Mail `email` a confirmation link pointing at `origin` (scheme://host the asker reached).
    Raises MailUnavailable, MailFailed, or InvalidInput for something not an address."""
    if not mail.enabled(rt.settings):
        raise MailUnavailable("e-mail is not configured on this registry (MAIL_SERVER)")
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


async def confirm(rt: Runtime, code: str) -> EmailAuthorization | None:
    """The address behind `code` agrees; None when the code is unknown (or empty)."""
    if not code:
        return None
    return await rt.db.write(authorized_emails.confirm, code)

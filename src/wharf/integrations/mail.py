"""Sending e-mail over SMTP (notifications, log export links, address confirmations)."""

from __future__ import annotations

from email.message import EmailMessage

from wharf.config import Settings


class MailUnavailable(Exception):
    """Wharf is not configured to send e-mail (no MAIL_SERVER, or FEATURE_MAILING is off)."""


class MailFailed(Exception):
    """The SMTP server could not be reached or refused the message."""


def enabled(settings: Settings) -> bool:
    return settings.FEATURE_MAILING and bool(settings.MAIL_SERVER)


async def send(settings: Settings, to: str, subject: str, text: str, html: str | None = None) -> None:
    if not enabled(settings):
        raise MailUnavailable("e-mail is not configured: set MAIL_SERVER (and FEATURE_MAILING)")
    import aiosmtplib  # here, not at the top: only a process that sends mail loads the SMTP client

    message = EmailMessage()
    message["From"] = settings.MAIL_DEFAULT_SENDER
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.MAIL_SERVER,
            port=settings.MAIL_PORT,
            start_tls=settings.MAIL_USE_TLS,
            username=settings.MAIL_USERNAME,
            password=settings.MAIL_PASSWORD,
            timeout=settings.NOTIFICATION_SEND_TIMEOUT,
        )
    except (aiosmtplib.SMTPException, OSError) as e:
        raise MailFailed(f"sending e-mail to {to} through {settings.MAIL_SERVER} failed: {e}") from None

"""Password recovery for the API (requestRecoveryEmail) and the web pages: the code is made in one
transaction, then mailed; a failing mail server is logged, not told to the caller (who must get
the same answer whether or not the address has an account)."""

from __future__ import annotations

import logging

from wharf.core import recovery
from wharf.core.accounts import AccountRecord
from wharf.core.errors import NotAllowed
from wharf.core.recovery import TooManyRequests
from wharf.integrations import mail
from wharf.integrations.mail import MailFailed, MailUnavailable
from wharf.runtime import Runtime

__all__ = ["MailUnavailable", "TooManyRequests", "account_of", "request", "reset"]

log = logging.getLogger(__name__)


def _check_available(rt: Runtime) -> None:
    if rt.settings.AUTHENTICATION_TYPE != "Database":
        raise NotAllowed(
            "passwords are kept by the directory (AUTHENTICATION_TYPE "
            f"{rt.settings.AUTHENTICATION_TYPE}): reset yours there, not in Wharf"
        )
    if not mail.enabled(rt.settings):
        raise MailUnavailable(
            "this registry sends no e-mail (MAIL_SERVER): ask an administrator to reset your password"
        )


async def request(rt: Runtime, email: str, address: str | None, origin: str | None) -> None:
    """Mail a recovery link to the account of `email`, if there is one. Raises NotAllowed (not a
    database login), MailUnavailable, TooManyRequests."""
    _check_available(rt)
    started = await rt.db.write(recovery.start, email, address)
    if started is None or not started.account.email:
        return
    link = f"{origin or rt.settings.public_origin}/recovery/reset?code={started.code}"
    text = (
        f"Someone asked to reset the password of Wharf account {started.account.name}.\n\n"
        f"To choose a new password, open: {link}\n\n"
        f"The link works once, for {recovery.LIFETIME_MS // 60_000} minutes. If you did not ask, ignore "
        "this message: your password stays as it is."
    )
    try:
        await mail.send(rt.settings, started.account.email, "Reset your Wharf password", text)
    except MailFailed as e:
        log.warning("recovery mail not sent: %s", e)


async def account_of(rt: Runtime, code: str) -> AccountRecord:
    """The account a recovery code resets (NotFound when it does not work)."""
    _check_available(rt)
    return await rt.db.read(recovery.holder, code)


async def reset(rt: Runtime, code: str, password: str, address: str | None) -> AccountRecord:
    """Set the new password; every session and token of the account ends."""
    _check_available(rt)
    return await rt.db.write(recovery.reset, code, password, address)

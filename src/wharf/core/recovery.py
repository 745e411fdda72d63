"""Password recovery by e-mail (Quay's requestRecoveryEmail): a link with a single-use code, valid
for LIFETIME_MS, that lets whoever reads the account's mailbox set a new password. Only a hash
of the code is stored. Setting the password ends every session and token of the account: its
browser sessions, OAuth and app tokens are deleted, its registry tokens revoked
(core/revocation.py).

Asking never tells whether an address has an account: the caller gets the same answer either
way, and only the mail differs. Requests are limited per client address (too many is refused, which
says nothing about accounts) and per account (quietly: no second mail within RESEND_MS).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from wharf.core import _secrets, accounts, audit
from wharf.core._sql import insert_ignore
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import Busy, NotFound
from wharf.db.engine import Db
from wharf.db.models import AccessToken, Account, AppToken, LoginThrottle, RecoveryToken

LIFETIME_MS = 30 * 60 * 1000
"""How long a link works: long enough for mail to arrive, short enough to be of little use later."""
RESEND_MS = 60 * 1000
"""One mail a minute per account: a flood of requests cannot fill someone's mailbox."""
ADDRESS_LIMIT = 5
"""Requests per client address in ADDRESS_WINDOW_MS."""
ADDRESS_WINDOW_MS = 15 * 60 * 1000


class TooManyRequests(Busy):
    """This client asked too often; it may ask again later."""


@dataclass(frozen=True, slots=True)
class Started:
    account: AccountRecord
    code: str


def _throttle(db: Db, address: str | None, now: int) -> None:
    """Count a request from `address` (the login throttle's table, a key of its own); refuse when
    it made ADDRESS_LIMIT in the window."""
    key = f"recovery:{address or '-'}"
    insert_ignore(db, LoginThrottle, {"key": key, "failures": 0, "blocked_until_ms": now})
    row = db.execute(
        select(LoginThrottle.failures, LoginThrottle.blocked_until_ms).where(LoginThrottle.key == key)
    ).one()
    # blocked_until_ms holds the start of the window here.
    fresh = now - row.blocked_until_ms > ADDRESS_WINDOW_MS
    count = 1 if fresh else row.failures + 1
    start = now if fresh else row.blocked_until_ms
    db.execute(
        update(LoginThrottle).where(LoginThrottle.key == key).values(failures=count, blocked_until_ms=start)
    )
    if count > ADDRESS_LIMIT:
        raise TooManyRequests("too many recovery requests from this address: try again in a few minutes")


def start(db: Db, email: str, address: str | None) -> Started | None:
    """A code for the enabled user whose address is `email` (any case); None when there is none,
    or when one was sent within RESEND_MS."""
    now = now_ms()
    _throttle(db, address, now)
    wanted = email.strip().lower()
    if not wanted:
        return None
    row = db.execute(
        select(Account.id)
        .where(func.lower(Account.email) == wanted, Account.kind == "user", Account.enabled.is_(True))
        .order_by(Account.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    recent = db.execute(
        select(func.max(RecoveryToken.created_ms)).where(RecoveryToken.account_id == row.id)
    ).scalar()
    if recent is not None and now - int(recent) < RESEND_MS:
        return None
    account = accounts.get_by_id(db, row.id)
    assert account is not None
    code = secrets.token_urlsafe(32)
    db.execute(
        insert(RecoveryToken).values(
            account_id=account.id,
            code_hash=_secrets.digest(code),
            created_ms=now,
            expires_ms=now + LIFETIME_MS,
        )
    )
    return Started(account, code)


def holder(db: Db, code: str) -> AccountRecord:
    """The account a code resets; NotFound when it is unknown, used or expired."""
    row = db.execute(
        select(RecoveryToken.account_id, RecoveryToken.expires_ms).where(
            RecoveryToken.code_hash == _secrets.digest(code)
        )
    ).first()
    account = (
        accounts.get_by_id(db, row.account_id) if row is not None and row.expires_ms > now_ms() else None
    )
    if account is None or not account.enabled:
        raise NotFound("this recovery link does not work: it was used, or it has expired. Ask for a new one.")
    return account


def reset(db: Db, code: str, password: str, address: str | None) -> AccountRecord:
    """Set the password of the account `code` recovers. Every code of the account is used up, and
    every session and token of it ends."""
    account = holder(db, code)
    accounts.check_password(password)
    db.execute(delete(RecoveryToken).where(RecoveryToken.account_id == account.id))
    # Whoever took the account over may have made tokens of their own: a reset ends them all,
    # OAuth and app tokens included (update_user ends sessions and registry tokens).
    db.execute(delete(AccessToken).where(AccessToken.account_id == account.id))
    db.execute(delete(AppToken).where(AppToken.account_id == account.id))
    actor = audit.Actor(account.id, account.name, address)
    return accounts.update_user(db, account, password=password, actor=actor)

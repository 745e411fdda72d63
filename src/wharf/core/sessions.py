"""Browser sessions: the cookie is lookup + secret (only a hash is stored), with a CSRF token per session."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update

from wharf.core import _secrets, accounts
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import WebSession

LOOKUP_LENGTH = 20
SECRET_LENGTH = 40


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    account: AccountRecord
    csrf_token: str
    login_ms: int


def create(db: Db, account: AccountRecord, lifetime_ms: int) -> tuple[str, str]:
    """A new session for `account`: (cookie value, CSRF token). Expired sessions are swept here."""
    lookup, secret = _secrets.new(LOOKUP_LENGTH, SECRET_LENGTH)
    csrf = secrets.token_urlsafe(32)
    now = now_ms()
    db.execute(delete(WebSession).where(WebSession.expires_ms <= now))
    db.execute(
        insert(WebSession).values(
            account_id=account.id,
            lookup=lookup,
            secret_hash=_secrets.digest(secret),
            csrf_token=csrf,
            created_ms=now,
            login_ms=now,
            expires_ms=now + lifetime_ms,
        )
    )
    return lookup + secret, csrf


_BY_LOOKUP = select(
    WebSession.id,
    WebSession.account_id,
    WebSession.secret_hash,
    WebSession.csrf_token,
    WebSession.login_ms,
    WebSession.expires_ms,
).where(WebSession.lookup == bindparam("lookup"))


def resolve(db: Db, cookie: str) -> SessionRecord | None:
    if len(cookie) != LOOKUP_LENGTH + SECRET_LENGTH:
        return None
    row = db.execute(_BY_LOOKUP, {"lookup": cookie[:LOOKUP_LENGTH]}).first()
    if row is None or not _secrets.matches(row.secret_hash, cookie[LOOKUP_LENGTH:]):
        return None
    if row.expires_ms <= now_ms():
        return None
    account = accounts.get_by_id(db, row.account_id)
    if account is None or not account.enabled or account.kind != "user":
        return None
    return SessionRecord(row.id, account, row.csrf_token, row.login_ms)


def refresh_login(db: Db, session_id: int) -> None:
    """The password was entered again: the session counts as a fresh login."""
    db.execute(update(WebSession).where(WebSession.id == session_id).values(login_ms=now_ms()))


def end(db: Db, session_id: int) -> None:
    db.execute(delete(WebSession).where(WebSession.id == session_id))

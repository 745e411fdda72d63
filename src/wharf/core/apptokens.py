"""App-specific tokens: passwords for CLI logins (`$app`), each revocable on its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, or_, select, update

from wharf.core import _secrets, accounts, audit, revocation
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotFound
from wharf.db.engine import Db
from wharf.db.models import Account, AppToken

LOOKUP_LENGTH = 60
SECRET_LENGTH = 60


@dataclass(frozen=True, slots=True)
class AppTokenRecord:
    uuid: str
    title: str
    created_ms: int
    expires_ms: int | None
    last_used_ms: int | None


_COLUMNS = (AppToken.uuid, AppToken.title, AppToken.created_ms, AppToken.expires_ms, AppToken.last_used_ms)


def create(
    db: Db, account: AccountRecord, title: str, lifetime_ms: int | None, actor: audit.Actor | None
) -> tuple[AppTokenRecord, str]:
    """A new token; the returned string is the only copy of it anywhere."""
    title = title.strip()
    if not title or len(title) > 255:
        raise InvalidInput("give the token a title of 1-255 characters")
    lookup, secret = _secrets.new(LOOKUP_LENGTH, SECRET_LENGTH)
    now = now_ms()
    token_uuid = str(uuid.uuid4())
    expires = now + lifetime_ms if lifetime_ms else None
    db.execute(
        insert(AppToken).values(
            uuid=token_uuid,
            account_id=account.id,
            title=title,
            lookup=lookup,
            secret_hash=_secrets.digest(secret),
            created_ms=now,
            expires_ms=expires,
            last_used_ms=None,
        )
    )
    audit.record(
        db, "create_app_specific_token", actor, namespace_id=account.id, app_specific_token_title=title
    )
    return AppTokenRecord(token_uuid, title, now, expires, None), lookup + secret


def list_for(db: Db, account: AccountRecord) -> list[AppTokenRecord]:
    rows = db.execute(
        select(*_COLUMNS).where(AppToken.account_id == account.id).order_by(AppToken.created_ms)
    )
    return [AppTokenRecord(*r) for r in rows]


def get(db: Db, account: AccountRecord, token_uuid: str) -> AppTokenRecord:
    row = db.execute(
        select(*_COLUMNS).where(AppToken.account_id == account.id, AppToken.uuid == token_uuid)
    ).first()
    if row is None:
        raise NotFound("no such app token")
    return AppTokenRecord(*row)


def revoke(db: Db, account: AccountRecord, token_uuid: str, actor: audit.Actor | None) -> None:
    token = get(db, account, token_uuid)
    db.execute(delete(AppToken).where(AppToken.uuid == token_uuid))
    revocation.revoke(db, [account.id])  # and the registry tokens it was traded for
    audit.record(
        db, "revoke_app_specific_token", actor, namespace_id=account.id, app_specific_token_title=token.title
    )


# Every `$app` login reads this, so it is built once (see docs/development.md).
_BY_LOOKUP = (
    select(AppToken.secret_hash, AppToken.expires_ms, AppToken.last_used_ms, *accounts.COLUMNS)
    .join(Account, Account.id == AppToken.account_id)
    .where(AppToken.lookup == bindparam("lookup"))
)
_ACCOUNT_AT = 3


@dataclass(frozen=True, slots=True)
class Resolved:
    """What an `$app` login proved: the token's account, and whether its last use is stale."""

    account: AccountRecord
    needs_touch: bool


# A login within this long of the recorded last use writes nothing: a CI job logging in for every
# repository it pulls must not turn each login into a write.
USE_RESOLUTION_MS = 60_000


def resolve_login(db: Db, token: str, now: int | None = None) -> Resolved | None:
    """The enabled user a token belongs to, or None; the secret is compared in constant time
    (a SHA-256 of a 60-character random secret: never argon2, which is for guessable passwords)."""
    if len(token) != LOOKUP_LENGTH + SECRET_LENGTH:
        return None
    row = db.execute(_BY_LOOKUP, {"lookup": token[:LOOKUP_LENGTH]}).first()
    if row is None or not _secrets.matches(row.secret_hash, token[LOOKUP_LENGTH:]):
        return None
    now = now_ms() if now is None else now
    if row.expires_ms is not None and row.expires_ms <= now:
        return None
    account = accounts.record(row, _ACCOUNT_AT)
    if not account.enabled:
        return None
    stale = row.last_used_ms is None or now - row.last_used_ms >= USE_RESOLUTION_MS
    return Resolved(account, stale)


def resolve(db: Db, token: str) -> AccountRecord | None:
    """The enabled user a token belongs to, or None; the secret is compared in constant time."""
    found = resolve_login(db, token)
    return found.account if found is not None else None


def touch(db: Db, token: str, now: int | None = None) -> None:
    """Record a use (the token's "last used"), unless one was recorded in the last minute."""
    now = now_ms() if now is None else now
    db.execute(
        update(AppToken)
        .where(
            AppToken.lookup == token[:LOOKUP_LENGTH],
            or_(AppToken.last_used_ms.is_(None), AppToken.last_used_ms <= now - USE_RESOLUTION_MS),
        )
        .values(last_used_ms=now)
    )


def list_all(db: Db, expiring_by_ms: int | None = None) -> list[tuple[str, AppTokenRecord]]:
    """(owner's name, token) for every app token of every user, oldest first; with
    `expiring_by_ms`, only those not yet expired that expire by then."""
    query = (
        select(Account.name, *_COLUMNS)
        .join(Account, Account.id == AppToken.account_id)
        .order_by(AppToken.created_ms, AppToken.id)
    )
    if expiring_by_ms is not None:
        query = query.where(AppToken.expires_ms > now_ms(), AppToken.expires_ms <= expiring_by_ms)
    return [(r[0], AppTokenRecord(*r[1:])) for r in db.execute(query)]

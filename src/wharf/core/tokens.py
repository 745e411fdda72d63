"""OAuth access tokens: shown once, stored as a lookup half and a hash of the secret half."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select

from wharf.core import _secrets, accounts, audit, revocation
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import AccessToken, Account

LOOKUP_LENGTH = 20
SECRET_LENGTH = 40


@dataclass(frozen=True, slots=True)
class TokenOwner:
    account: AccountRecord
    scopes: frozenset[str]


def mint(
    db: Db,
    account: AccountRecord,
    scopes: frozenset[str],
    *,
    application_id: int | None = None,
    title: str | None = None,
    token_uuid: str | None = None,
    lifetime_ms: int | None = None,
    actor: audit.Actor | None = None,
) -> str:
    """A new token for `account`; the returned string is the only copy of it anywhere."""
    lookup, secret = _secrets.new(LOOKUP_LENGTH, SECRET_LENGTH)
    now = now_ms()
    db.execute(
        insert(AccessToken).values(
            account_id=account.id,
            application_id=application_id,
            uuid=token_uuid or str(uuid.uuid4()),
            title=title,
            lookup=lookup,
            secret_hash=_secrets.digest(secret),
            scopes=" ".join(sorted(scopes)),
            created_ms=now,
            expires_ms=now + lifetime_ms if lifetime_ms else None,
        )
    )
    audit.record(db, "create_token", actor, namespace_id=account.id, scopes=sorted(scopes))
    return lookup + secret


_BY_LOOKUP = (
    select(AccessToken.secret_hash, AccessToken.scopes, AccessToken.expires_ms, *accounts.COLUMNS)
    .join(Account, Account.id == AccessToken.account_id)
    .where(AccessToken.lookup == bindparam("lookup"))
)
_ACCOUNT_AT = 3


def resolve(db: Db, token: str) -> TokenOwner | None:
    """The enabled account and scopes behind a token, or None; the secret is compared in constant time."""
    if len(token) != LOOKUP_LENGTH + SECRET_LENGTH:
        return None
    row = db.execute(_BY_LOOKUP, {"lookup": token[:LOOKUP_LENGTH]}).first()
    if row is None or not _secrets.matches(row.secret_hash, token[LOOKUP_LENGTH:]):
        return None
    if row.expires_ms is not None and row.expires_ms <= now_ms():
        return None
    account = accounts.record(row, _ACCOUNT_AT)
    if not account.enabled:
        return None
    return TokenOwner(account, frozenset(row.scopes.split()))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    uuid: str
    title: str | None
    account_name: str
    scopes: frozenset[str]
    created_ms: int
    expires_ms: int | None


def list_for_application(db: Db, application_id: int) -> list[TokenInfo]:
    """The live tokens minted for an application (never their secrets)."""
    rows = db.execute(
        select(
            AccessToken.uuid,
            AccessToken.title,
            AccessToken.scopes,
            AccessToken.created_ms,
            AccessToken.expires_ms,
            Account.name,
        )
        .join(Account, Account.id == AccessToken.account_id)
        .where(AccessToken.application_id == application_id)
        .order_by(AccessToken.created_ms)
    ).all()
    now = now_ms()
    return [
        TokenInfo(t.uuid or "", t.title, t.name, frozenset(t.scopes.split()), t.created_ms, t.expires_ms)
        for t in rows
        if t.expires_ms is None or t.expires_ms > now
    ]


def revoke(db: Db, application_id: int, token_uuid: str, actor: audit.Actor | None) -> bool:
    # and the registry tokens it was traded for
    revocation.revoke(
        db,
        select(AccessToken.account_id).where(
            AccessToken.application_id == application_id, AccessToken.uuid == token_uuid
        ),
    )
    result = db.execute(
        delete(AccessToken).where(
            AccessToken.application_id == application_id, AccessToken.uuid == token_uuid
        )
    )
    if result.rowcount:
        audit.record(db, "revoke_oauth_api_token", actor, token_uuid=token_uuid)
    return bool(result.rowcount)

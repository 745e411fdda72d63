"""Client keys (Quay's generateUserClientKey): what a user's container client may store instead of
the password. A key names its account and a fingerprint of the account's current password hash,
so it stops working when the password changes; the auth layer seals it with the server's key."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from wharf.core import audit
from wharf.core.accounts import AccountRecord
from wharf.db.engine import Db
from wharf.db.models import Account


def fingerprint(db: Db, account_id: int) -> str | None:
    """A fingerprint of the enabled user's current password hash; None without a password."""
    row = db.execute(
        select(Account.password_hash).where(
            Account.id == account_id, Account.kind == "user", Account.enabled.is_(True)
        )
    ).first()
    if row is None or not row.password_hash:
        return None
    return hashlib.sha256(row.password_hash.encode()).hexdigest()[:32]


def issued(db: Db, account: AccountRecord, actor: audit.Actor | None) -> str | None:
    """Record that a key was handed out; the fingerprint to seal into it."""
    audit.record(db, "user_generate_client_key", actor, namespace_id=account.id)
    return fingerprint(db, account.id)

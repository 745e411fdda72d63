"""Password login, shared by every surface that accepts a username and password."""

from __future__ import annotations

import asyncio

from wharf.core import accounts
from wharf.core.accounts import AccountRecord
from wharf.db.engine import Database


async def authenticate(db: Database, username: str, password: str) -> AccountRecord | None:
    """The enabled user with this password, else None; as slow for unknown users as for known ones.

    A hash made with older argon2 parameters is replaced on the way (except in read-only mode), so
    stored hashes follow the parameters without a reset."""
    account, stored = await db.read(accounts.login_candidate, username)
    ok = await asyncio.to_thread(accounts.password_matches, stored, password)
    if not ok or account is None or not account.enabled or account.kind != "user":
        return None
    if not db.read_only and stored is not None and accounts.password_needs_rehash(stored):
        fresh = await asyncio.to_thread(accounts.hash_password, password)
        await db.write(accounts.replace_password_hash, account.id, stored, fresh)
    return account

"""First start: the superuser `admin` on an empty database."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncEngine

from wharf.core import accounts
from wharf.db import engine as dbx

ADMIN = "admin"


async def ensure_admin(engine: AsyncEngine, password: str | None) -> str | None:
    """Create `admin` when no account exists; returns the password when it was generated here."""
    async with dbx.write(engine) as db:
        if await accounts.count(db):
            return None
        generated = None
        if not password:
            generated = password = secrets.token_urlsafe(18)
        await accounts.create_user(db, ADMIN, password, None, superuser=True)
    return generated

"""First start: the superuser `admin` on an empty database."""

from __future__ import annotations

import secrets

from wharf.core import accounts
from wharf.db.engine import Db

ADMIN = "admin"


def ensure_admin(db: Db, password: str | None) -> str | None:
    """Create `admin` when no account exists; returns the password when it was generated here."""
    if accounts.count(db):
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    accounts.create_user(db, ADMIN, password, None, superuser=True)
    return generated

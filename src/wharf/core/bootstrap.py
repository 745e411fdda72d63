"""First start: the superuser `admin` on an empty database, and the `library` organization that
single-component names (`busybox` = `library/busybox`) live in, owned by `admin`."""

from __future__ import annotations

import secrets

from wharf.core import accounts, orgs
from wharf.db.engine import Db

ADMIN = "admin"


def ensure_admin(db: Db, password: str | None, library: str = "library") -> str | None:
    """Create `admin` when no account exists; returns the password when it was generated here."""
    if accounts.count(db):
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    admin = accounts.create_user(db, ADMIN, password, None, superuser=True)
    if library and accounts.get_by_name(db, library) is None:
        orgs.create(db, library, None, admin, None)
    return generated

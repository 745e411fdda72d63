"""First start: the superuser `admin` on an empty database, and the `library` organization that
single-component names (`busybox` = `library/busybox`) live in, owned by `admin`.

The password comes from WHARF_ADMIN_PASSWORD and counts on the first start only; a later start
with another one logs that it was ignored, so that an operator does not go looking for a typo."""

from __future__ import annotations

import logging
import secrets

from wharf.core import accounts, orgs
from wharf.db.engine import Db

ADMIN = "admin"

log = logging.getLogger("wharf.bootstrap")


def ensure_admin(db: Db, password: str | None, library: str = "library") -> str | None:
    """Create `admin` when no account exists; returns the password when it was generated here."""
    if accounts.count(db):
        if password:
            _note_ignored_password(db, password)
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    admin = accounts.create_user(db, ADMIN, password, None, superuser=True)
    if library and accounts.get_by_name(db, library) is None:
        orgs.create(db, library, None, admin, None)
    if generated is None:
        log.info("created the superuser %r with the password in WHARF_ADMIN_PASSWORD", ADMIN)
    return generated


def _note_ignored_password(db: Db, password: str) -> None:
    account, stored = accounts.login_candidate(db, ADMIN)
    if account is None:
        log.warning(
            "WHARF_ADMIN_PASSWORD is ignored: it only creates %r on the first start, and this database "
            "already has accounts",
            ADMIN,
        )
    elif not accounts.password_matches(stored, password):
        log.warning(
            "WHARF_ADMIN_PASSWORD is ignored: %r exists with another password, and only the first start "
            "sets it (sign in as %r to change it)",
            ADMIN,
            ADMIN,
        )

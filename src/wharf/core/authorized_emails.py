"""E-mail addresses allowed to receive a repository's notifications: each is confirmed first, by a
link sent to it, so that a repository admin cannot make Wharf mail anyone they like."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from wharf.core import _secrets
from wharf.core._sql import upsert_touch
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import AuthorizedEmail, Repository


@dataclass(frozen=True, slots=True)
class EmailAuthorization:
    email: str
    repository: str  # namespace/name
    confirmed: bool


def check_address(email: str) -> str:
    email = email.strip()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 255 or any(c in email for c in " \r\n<>,;"):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    return email


def get(db: Db, repo: RepositoryRecord, email: str) -> EmailAuthorization | None:
    row = db.execute(
        select(AuthorizedEmail.confirmed).where(
            AuthorizedEmail.repository_id == repo.id, AuthorizedEmail.email == email.strip()
        )
    ).first()
    return EmailAuthorization(email.strip(), repo.full_name, row.confirmed) if row else None


def is_confirmed(db: Db, repository_id: int, email: str) -> bool:
    row = db.execute(
        select(AuthorizedEmail.confirmed).where(
            AuthorizedEmail.repository_id == repository_id, AuthorizedEmail.email == email.strip()
        )
    ).first()
    return bool(row and row.confirmed)


def request(db: Db, repo: RepositoryRecord, email: str) -> str:
    """Start (or restart) confirming an address; returns the code the confirmation link carries."""
    email = check_address(email)
    code = secrets.token_urlsafe(24)
    upsert_touch(
        db,
        AuthorizedEmail,
        {
            "repository_id": repo.id,
            "email": email,
            "code_hash": _secrets.digest(code),
            "confirmed": False,
            "created_ms": now_ms(),
        },
        ("repository_id", "email"),
        ("code_hash", "created_ms"),
    )
    return code


def confirm(db: Db, code: str) -> EmailAuthorization | None:
    """Confirm the address a code was sent to; None when the code is unknown."""
    row = db.execute(
        select(AuthorizedEmail.id, AuthorizedEmail.email, Repository.full_name)
        .join(Repository, Repository.id == AuthorizedEmail.repository_id)
        .where(AuthorizedEmail.code_hash == _secrets.digest(code))
    ).first()
    if row is None:
        return None
    db.execute(update(AuthorizedEmail).where(AuthorizedEmail.id == row.id).values(confirmed=True))
    return EmailAuthorization(row.email, row.full_name, True)

"""Users, organizations and robots as far as the registry needs them."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, insert, select, update

from wharf.core import audit, durations, revocation
from wharf.core.argon2_areas import Argon2Areas
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput
from wharf.db.engine import Db
from wharf.db.models import Account, Robot, WebSession, new_generation

# argon2id at m=7 MiB, t=5, p=1: one of the five parameter sets OWASP's Password Storage Cheat
# Sheet gives as equally strong (m=46 MiB t=1, 19/2, 12/3, 9/4, 7/5), chosen on measurements on the
# 2-core x86-64 machine (one verification, in a reused memory area, median of 40 interleaved):
#   m=19 MiB t=2: 31.8 ms   m=12 MiB t=3: 29.0 ms   m=9 MiB t=4: 26.8 ms   m=7 MiB t=5: 25.9 ms
# The small area stays in the CPU's caches, so the set that needs least memory costs least CPU too,
# and a burst of logins holds one 7 MiB area per verification thread instead of 19 MiB. Hashes made
# with other parameters (19/2 until December 2026, 64 MiB t=3 p=4 before) still verify, and are
# re-hashed on the next successful login.
_hasher = PasswordHasher(time_cost=5, memory_cost=7 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps a login for an unknown user as slow as one for a known user.
    Made on first use: hashing costs as much as a login, and most processes never verify."""
    return _hasher.hash("wharf-timing-equaliser")


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    name: str
    kind: str
    enabled: bool
    is_superuser: bool
    email: str | None = None
    tag_expiration_s: int | None = None
    """The namespace's time-machine window; None: the registry's DEFAULT_TAG_EXPIRATION."""
    credential_gen: int = 0
    """What tokens issued now carry (see core/revocation.py)."""


COLUMNS = (
    Account.id,
    Account.name,
    Account.kind,
    Account.enabled,
    Account.is_superuser,
    Account.email,
    Account.tag_expiration_s,
    Account.credential_gen,
)
"""An AccountRecord's columns, in its fields' order: other statements select them too (`record`)."""


def record(row: Sequence[Any], start: int = 0) -> AccountRecord:
    """The AccountRecord in `row`, whose COLUMNS begin at index `start`."""
    return AccountRecord(*row[start : start + len(COLUMNS)])


# Every login and token request reads accounts: the statements are built once (docs/development.md).
_BY_NAME = select(*COLUMNS).where(Account.name == bindparam("name"))
_BY_ID = select(*COLUMNS).where(Account.id == bindparam("id"))
_LOGIN_CANDIDATE = select(*COLUMNS, Account.password_hash).where(Account.name == bindparam("name"))


def get_by_name(db: Db, name: str) -> AccountRecord | None:
    row = db.execute(_BY_NAME, {"name": name}).first()
    return record(row) if row else None


def get_by_id(db: Db, account_id: int) -> AccountRecord | None:
    row = db.execute(_BY_ID, {"id": account_id}).first()
    return record(row) if row else None


def list_users(db: Db, *, include_disabled: bool = True) -> list[AccountRecord]:
    query = select(*COLUMNS).where(Account.kind == "user").order_by(Account.name)
    if not include_disabled:
        query = query.where(Account.enabled.is_(True))
    return [record(r) for r in db.execute(query)]


def update_user(
    db: Db,
    account: AccountRecord,
    *,
    email: str | None = None,
    password: str | None = None,
    enabled: bool | None = None,
    actor: audit.Actor | None = None,
) -> AccountRecord:
    values: dict[str, object] = {}
    if email is not None:
        values["email"] = email
    if password is not None:
        check_password(password)
        values["password_hash"] = _hasher.hash(password)
    if enabled is not None:
        values["enabled"] = enabled
    if values:
        db.execute(update(Account).where(Account.id == account.id).values(**values))
        if password is not None or enabled is False:
            # A new password or a disabled account ends every browser session of the account, and
            # every registry token it holds.
            db.execute(delete(WebSession).where(WebSession.account_id == account.id))
            revocation.revoke(db, [account.id])
        changed = sorted(k if k != "password_hash" else "password" for k in values)
        audit.record(
            db, "user_change", actor, namespace_id=account.id, username=account.name, changed=changed
        )
    updated = get_by_id(db, account.id)
    assert updated is not None
    return updated


def set_tag_expiration(
    db: Db, account: AccountRecord, seconds: int, actor: audit.Actor | None
) -> AccountRecord:
    """Change a namespace's time-machine window (how long deleted and moved tags can be restored)."""
    if seconds < 0:
        raise InvalidInput("tag_expiration_s cannot be negative")
    db.execute(update(Account).where(Account.id == account.id).values(tag_expiration_s=seconds))
    kind = "org_change_tag_expiration" if account.kind == "org" else "user_change_tag_expiration"
    audit.record(db, kind, actor, namespace_id=account.id, namespace=account.name, tag_expiration=seconds)
    updated = get_by_id(db, account.id)
    assert updated is not None
    return updated


def change_settings(
    db: Db,
    account: AccountRecord,
    *,
    email: str | None,
    tag_expiration_s: int | None,
    options: list[str],
    actor: audit.Actor | None,
) -> AccountRecord:
    """A namespace's settings page (an organization's or a user's): its e-mail and its time-machine
    window, which must be one of `options` (TAG_EXPIRATION_OPTIONS). Both change or neither does."""
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise InvalidInput(f"{email[:100]!r} is not an e-mail address like name@example.com", field="email")
    if tag_expiration_s is not None:
        durations.check_option(tag_expiration_s, options)
        account = set_tag_expiration(db, account, tag_expiration_s, actor)
    if email is not None:
        account = update_user(db, account, email=email, actor=actor)
    return account


def delete_user(db: Db, account: AccountRecord, actor: audit.Actor | None = None) -> None:
    """Remove a user with its namespace; its repositories' rows go with it (blobs are left to GC)."""
    audit.record(db, "user_delete", actor, namespace_id=None, username=account.name)
    delete_namespace(db, account.id)


def delete_namespace(db: Db, account_id: int) -> None:
    """Delete a user or organization account with its robots (whose account rows do not cascade).
    Whoever held a role in it loses their tokens: a namespace made again under the same name must
    not honour them."""
    revocation.revoke_namespace(db, account_id)
    robots = select(Robot.account_id).where(Robot.owner_id == account_id)
    db.execute(delete(Account).where(Account.id.in_(robots)))
    db.execute(delete(Account).where(Account.id == account_id))


def count(db: Db) -> int:
    return len((db.execute(select(Account.id).limit(1))).all())


_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
MIN_PASSWORD = 8


def check_username(name: str) -> None:
    if not (2 <= len(name) <= 255) or not _NAME.match(name):
        raise InvalidInput(
            "usernames are 2-255 characters of lowercase letters, digits and . _ - (not at either end)",
            field="name",
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"passwords must have at least {MIN_PASSWORD} characters", field="password")


def create_user(
    db: Db,
    name: str,
    password: str | None,
    email: str | None,
    *,
    superuser: bool = False,
    actor: audit.Actor | None = None,
) -> AccountRecord:
    check_username(name)
    if password is not None:
        check_password(password)
    if get_by_name(db, name) is not None:
        raise AlreadyExists(f"the name {name!r} is taken", field="name")
    generation = new_generation()
    result = db.execute(
        insert(Account).values(
            name=name,
            kind="user",
            email=email,
            password_hash=_hasher.hash(password) if password else None,
            enabled=True,
            is_superuser=superuser,
            created_ms=now_ms(),
            credential_gen=generation,
        )
    )
    account_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert account_id is not None
    audit.record(db, "account_create", actor, namespace_id=account_id, username=name, superuser=superuser)
    return AccountRecord(account_id, name, "user", True, superuser, email, credential_gen=generation)


def password_matches(stored: str | None, password: str, areas: Argon2Areas | None = None) -> bool:
    """Constant-work check; CPU-heavy (argon2), so async callers run it in a thread. With `areas`,
    argon2 works in memory kept there between verifications (see core/argon2_areas.py)."""
    encoded = stored or _dummy_hash()
    matched = areas.verify(encoded, password) if areas is not None else None
    if matched is None:
        try:
            matched = _hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False
    return matched and stored is not None


def password_needs_rehash(stored: str) -> bool:
    """Whether a verified hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return False


def hash_password(password: str) -> str:
    """CPU-heavy (argon2), so async callers run it in a thread."""
    return _hasher.hash(password)


def replace_password_hash(db: Db, account_id: int, old: str, new: str) -> bool:
    """Store `new` for the same password in today's parameters, unless the password changed since
    `old` was read. Not a change of credentials: no audit entry."""
    result = db.execute(
        update(Account)
        .where(Account.id == account_id, Account.password_hash == old)
        .values(password_hash=new)
    )
    return bool(result.rowcount)


def login_candidate(db: Db, name: str) -> tuple[AccountRecord | None, str | None]:
    """The account named `name` and its password hash, for `password_matches`."""
    row = db.execute(_LOGIN_CANDIDATE, {"name": name}).first()
    if row is None:
        return None, None
    return record(row), row.password_hash


def has_password_set(db: Db, account_id: int) -> bool:
    """Whether the account can sign in with a password (Quay's `has_password_set`)."""
    found = db.execute(select(Account.password_hash).where(Account.id == account_id)).scalar_one_or_none()
    return found is not None

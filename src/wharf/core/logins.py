"""Login bookkeeping: throttling after failures and the audit trail.

Failures slow down whoever makes them, not the account's owner. Three counters grow with each
failure, each with its own free allowance and then a doubling delay (up to MAX_DELAY_S):

- per (subject, address): one address guessing one account's secret;
- per address, across subjects: one address trying many accounts;
- per subject, across addresses (the global cap): many addresses guessing one account. This one
  only holds back addresses that have failed already (for this subject or any other), so the
  owner presenting the right credential from an address that has not failed always gets in.

The subject is what the credential names: the username, or for `$app` / `$oauthtoken` logins the
token's lookup part, so that a stranger's bad tokens throttle neither other tokens nor all
token logins. The same rules apply whether or not the subject exists, so the answers reveal
nothing about which accounts exist. The counters live in the database, so every node of a
cluster shares them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ScalarSelect, bindparam, delete, literal_column, select, update

from wharf.core import accounts, audit
from wharf.core._sql import first, insert_ignore
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import Account, LoginThrottle

FREE_FAILURES = 3
"""Failures of one subject from one address before delays begin."""
ADDRESS_FREE_FAILURES = 10
"""Failures from one address, whatever the subject, before delays begin for that address."""
SUBJECT_FREE_FAILURES = 20
"""Failures for one subject from all addresses before addresses that failed are held back."""
MAX_DELAY_S = 300
FORGET_AFTER_MS = 15 * 60 * 1000
_NO_ADDRESS = "-"


@dataclass(frozen=True, slots=True)
class _Keys:
    pair: str
    address: str
    subject: str

    @classmethod
    def of(cls, subject: str, address: str | None) -> _Keys:
        subject, where = subject[:250], (address or _NO_ADDRESS)[:60]
        return cls(f"pair:{where}|{subject}", f"addr:{where}", f"user:{subject}")


_FREE = {"pair": FREE_FAILURES, "address": ADDRESS_FREE_FAILURES, "subject": SUBJECT_FREE_FAILURES}


def _blocked_until(key: str) -> ScalarSelect[int]:
    """A counter's `blocked_until_ms`; NULL when there is no such counter."""
    return select(LoginThrottle.blocked_until_ms).where(LoginThrottle.key == bindparam(key)).scalar_subquery()


# Every login reads these, so they are built once (see docs/development.md).
_COUNTERS = (_blocked_until("pair"), _blocked_until("address"), _blocked_until("subject"))
_STATUS = select(*_COUNTERS)
# A password login's counters and account in one statement: the account is outer-joined to one
# row, so that the counters come back for a name no account has too.
_STATUS_AND_USER = (
    select(*_COUNTERS, *accounts.COLUMNS, Account.password_hash)
    .select_from(select(literal_column("1").label("one")).subquery())
    .outerjoin(Account, Account.name == bindparam("name"))
)


def _params(subject: str, address: str | None) -> dict[str, str]:
    keys = _Keys.of(subject, address)
    return {"pair": keys.pair, "address": keys.address, "subject": keys.subject}


def _verdict(pair: int | None, address: int | None, subject: int | None) -> tuple[int, bool]:
    """`status` from the counters' `blocked_until_ms` (None: no such counter)."""
    now = now_ms()
    # An address "has failed" while one of its counters is remembered (see record_failure).
    failed_here = any(until is not None and now - until <= FORGET_AFTER_MS for until in (pair, address))
    applying = (pair, address, subject) if failed_here else (pair, address)
    until = max((u for u in applying if u is not None), default=0)
    return max(0, until - now), pair is not None


def status(db: Db, subject: str, address: str | None) -> tuple[int, bool]:
    """(how long this login must still wait, 0: go ahead; whether this address has failures for
    this subject on record that a success must clear)."""
    row = db.execute(_STATUS, _params(subject, address)).one()
    return _verdict(*row)


def status_and_user(
    db: Db, subject: str, address: str | None, username: str
) -> tuple[int, bool, AccountRecord | None, str | None]:
    """`status`, and the account named `username` with its password hash (what
    `accounts.login_candidate` reads), in one statement."""
    # Every password login and token request: on the DBAPI cursor (core/_sql.py).
    row = first(db, _STATUS_AND_USER, {**_params(subject, address), "name": username})
    assert row is not None  # the one-row subquery always answers
    wait_ms, failed_before = _verdict(*row[:3])
    if row[3] is None:
        return wait_ms, failed_before, None, None
    return wait_ms, failed_before, accounts.record(row, 3), row[-1]


def record_failure(db: Db, subject: str, address: str | None, kind: str, username: str | None = None) -> None:
    """Count a failed login of `subject` from `address`. `username` is what the client sent, for
    the audit log (the subject of a token login is its lookup part)."""
    now = now_ms()
    keys = _Keys.of(subject, address)
    for name, key in (("pair", keys.pair), ("address", keys.address), ("subject", keys.subject)):
        insert_ignore(db, LoginThrottle, {"key": key, "failures": 0, "blocked_until_ms": 0})
        row = db.execute(
            select(LoginThrottle.failures, LoginThrottle.blocked_until_ms).where(LoginThrottle.key == key)
        ).one()
        # Counters forget after a quiet spell, so occasional typos behind one address never add up.
        failures = (0 if now - row.blocked_until_ms > FORGET_AFTER_MS else row.failures) + 1
        free = _FREE[name]
        delay_s = 0 if failures <= free else min(2 ** (failures - free), MAX_DELAY_S)
        db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key)
            .values(failures=failures, blocked_until_ms=now + delay_s * 1000)
        )
    who = username if username is not None else subject
    audit.record(db, "login_failure", audit.Actor(None, who, address), credential=kind, username=who)


_CLEAR = delete(LoginThrottle).where(LoginThrottle.key == bindparam("pair"))


def record_success(
    db: Db,
    account_id: int,
    username: str,
    address: str | None,
    kind: str,
    *,
    audit_it: bool = True,
    subject: str | None = None,
) -> None:
    """A login succeeded: this address's counter for the subject starts again (the others do not:
    the owner logging in does not give the addresses guessing at the account new tries)."""
    db.execute(_CLEAR, {"pair": _Keys.of(subject or username, address).pair})
    if not audit_it:
        return
    audit.record(
        db,
        "login_success",
        audit.Actor(account_id, username, address),
        namespace_id=account_id,
        credential=kind,
    )

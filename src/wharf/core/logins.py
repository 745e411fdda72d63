"""Login bookkeeping: throttling after failures (per username and per address) and the audit trail.

The same rules apply whether or not the username exists, so the answers reveal nothing about
which accounts exist. The counters live in the database, so every node of a cluster shares them.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from wharf.core import audit
from wharf.core._sql import insert_ignore
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import LoginThrottle

FREE_FAILURES = 3
MAX_DELAY_S = 300
FORGET_AFTER_MS = 15 * 60 * 1000


def _keys(username: str, address: str | None) -> list[str]:
    return [f"user:{username[:300]}"] + ([f"addr:{address}"] if address else [])


def status(db: Db, username: str, address: str | None) -> tuple[int, bool]:
    """(how long logins for this username or from this address must still wait, 0: go ahead;
    whether the username has failures on record that a success must clear)."""
    rows = db.execute(
        select(LoginThrottle.key, LoginThrottle.blocked_until_ms).where(
            LoginThrottle.key.in_(_keys(username, address))
        )
    ).all()
    until = max((r.blocked_until_ms for r in rows), default=0)
    user_key = _keys(username, None)[0]
    return max(0, until - now_ms()), any(r.key == user_key for r in rows)


def record_failure(db: Db, username: str, address: str | None, kind: str) -> None:
    now = now_ms()
    for key in _keys(username, address):
        insert_ignore(db, LoginThrottle, {"key": key, "failures": 0, "blocked_until_ms": 0})
        row = db.execute(
            select(LoginThrottle.failures, LoginThrottle.blocked_until_ms).where(LoginThrottle.key == key)
        ).one()
        # Counters forget after a quiet spell, so occasional typos behind one address never add up.
        failures = (0 if now - row.blocked_until_ms > FORGET_AFTER_MS else row.failures) + 1
        delay_s = 0 if failures <= FREE_FAILURES else min(2 ** (failures - FREE_FAILURES), MAX_DELAY_S)
        db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key)
            .values(failures=failures, blocked_until_ms=now + delay_s * 1000)
        )
    audit.record(
        db, "login_failure", audit.Actor(None, username, address), credential=kind, username=username
    )


def record_success(
    db: Db, account_id: int, username: str, address: str | None, kind: str, *, audit_it: bool = True
) -> None:
    db.execute(delete(LoginThrottle).where(LoginThrottle.key == _keys(username, None)[0]))
    if not audit_it:
        return
    audit.record(
        db,
        "login_success",
        audit.Actor(account_id, username, address),
        namespace_id=account_id,
        credential=kind,
    )

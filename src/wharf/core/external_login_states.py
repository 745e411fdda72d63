"""Logins under way at an external OpenID Connect provider: what the callback must find again.

The `state` in the authorization URL names the row (stored hashed). The row is bound to the
browser that started the login: a random value kept in a cookie of that browser, also stored
hashed, must come back with the state. So a code and state captured elsewhere, or a login started
by another site in the victim's name (login CSRF), do not complete. A row is used once (the
callback deletes it as it reads it) and lives a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import ExternalLoginState

LIFETIME_MS = 10 * 60 * 1000
"""Long enough to type a password and a second factor at the provider."""

LOGIN = "login"
ATTACH = "attach"
INTENTS = (LOGIN, ATTACH)


@dataclass(frozen=True, slots=True)
class PendingLogin:
    service: str
    intent: str
    """LOGIN signs in (creating the account on the first login); ATTACH links the provider to
    `account_id`, the account signed in when the login started."""
    account_id: int | None
    nonce: str
    verifier: str
    """The PKCE code verifier, sent with the code to the token endpoint."""
    redirect: str
    """Where the browser goes afterwards: a path on this site."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(db: Db, state: str, browser: str, pending: PendingLogin) -> None:
    """Remember a login under way (and forget the ones that expired)."""
    now = now_ms()
    db.execute(delete(ExternalLoginState).where(ExternalLoginState.expires_ms < now))
    db.execute(
        insert(ExternalLoginState).values(
            state_hash=_hash(state),
            browser_hash=_hash(browser),
            service=pending.service,
            intent=pending.intent,
            account_id=pending.account_id,
            nonce=pending.nonce,
            verifier=pending.verifier,
            redirect=pending.redirect,
            expires_ms=now + LIFETIME_MS,
        )
    )


def take(db: Db, state: str, browser: str, service: str) -> PendingLogin | None:
    """The login `state` names, if it is still under way, was started by this browser for this
    service: it is used up either way (a state is tried once)."""
    t = ExternalLoginState
    row = db.execute(
        select(
            t.id,
            t.browser_hash,
            t.service,
            t.intent,
            t.account_id,
            t.nonce,
            t.verifier,
            t.redirect,
            t.expires_ms,
        ).where(t.state_hash == _hash(state))
    ).first()
    if row is None:
        return None
    deleted = db.execute(delete(ExternalLoginState).where(ExternalLoginState.id == row.id)).rowcount
    if deleted != 1:  # a concurrent callback with the same state took it first
        return None
    if (
        row.expires_ms < now_ms()
        or row.service != service
        or not hmac.compare_digest(row.browser_hash, _hash(browser))
    ):
        return None
    return PendingLogin(row.service, row.intent, row.account_id, row.nonce, row.verifier, row.redirect)

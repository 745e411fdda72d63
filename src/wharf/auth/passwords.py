"""Password login, shared by every surface that accepts a username and password.

argon2 is what makes a guessed password expensive, and what made every `docker pull` that asks
for a token expensive too: a client logs in with the same password for each repository it pulls.
So a process remembers, for a short while, which (username, password) pairs it verified, keyed by
an HMAC under a secret of its own that never leaves the process. A remembered pair is honoured
only while the account's credential generation (core/revocation.py) is the one it was verified
at: a new password, a disabled account or any other revocation moves the generation on, in the
database, so every node forgets at once. Failures are never remembered.

Verifications run on a small pool of their own, so that a burst of logins neither starves the
threads that move blob bytes nor holds more than a few argon2 buffers at once. Those buffers are
kept between verifications (no page faults: see core/argon2_areas.py) and unmapped once
verifications have stopped for `AREAS_KEPT_S` seconds, so an idle process holds none.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from wharf.core import accounts
from wharf.core.accounts import AccountRecord
from wharf.core.argon2_areas import Argon2Areas
from wharf.db.engine import Database

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _verification_pool() -> ThreadPoolExecutor:
    """One per process, as many threads as cores (at most 4): argon2 is CPU-bound."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="wharf-argon2"
            )
        return _pool


async def _on_pool(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_verification_pool(), fn, *args)


AREAS_KEPT_S = 2.0
"""How long argon2's memory areas outlive the last verification."""

areas = Argon2Areas()
_running = 0
_running_lock = threading.Lock()
_release: asyncio.TimerHandle | None = None


async def _password_matches(stored: str | None, password: str) -> bool:
    """`accounts.password_matches` on the pool, in kept memory areas."""
    global _running, _release
    loop = asyncio.get_running_loop()
    with _running_lock:
        _running += 1
        if _release is not None:
            _release.cancel()
            _release = None
    try:
        return await loop.run_in_executor(
            _verification_pool(), accounts.password_matches, stored, password, areas
        )
    finally:
        with _running_lock:
            _running -= 1
            if _running == 0:
                _release = loop.call_later(AREAS_KEPT_S, areas.release)


class PasswordLogins:
    """Verifies passwords; remembers recent successes for `ttl_s` seconds (0: never)."""

    def __init__(
        self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._key = os.urandom(32)
        self._verified: OrderedDict[bytes, tuple[float, int, int]] = OrderedDict()
        self.remembered_logins = 0
        """Logins answered from memory, without argon2 (for tests and metrics)."""
        self.verifications = 0
        """argon2 verifications run (for tests and metrics)."""

    def _digest(self, username: str, password: str) -> bytes:
        name = username.encode("utf-8", "surrogatepass")
        # Length-prefixed, so that no other (username, password) split gives the same bytes.
        message = len(name).to_bytes(4, "big") + name + password.encode("utf-8", "surrogatepass")
        return hmac.digest(self._key, message, "sha256")

    def _remembered(self, key: bytes, account: AccountRecord) -> bool:
        entry = self._verified.get(key)
        if entry is None:
            return False
        expires, account_id, generation = entry
        if self._clock() >= expires or account_id != account.id or generation != account.credential_gen:
            self._verified.pop(key, None)
            return False
        return True

    def _remember(self, key: bytes, account: AccountRecord) -> None:
        if self.ttl_s <= 0:
            return
        self._verified[key] = (self._clock() + self.ttl_s, account.id, account.credential_gen)
        self._verified.move_to_end(key)
        while len(self._verified) > self.max_entries:
            self._verified.popitem(last=False)

    async def authenticate(self, db: Database, username: str, password: str) -> AccountRecord | None:
        """The enabled user with this password, else None; as slow for unknown users as for known
        ones."""
        account, stored = await db.read(accounts.login_candidate, username)
        return await self.verify(db, username, password, account, stored)

    async def verify(
        self,
        db: Database,
        username: str,
        password: str,
        account: AccountRecord | None,
        stored: str | None,
    ) -> AccountRecord | None:
        """`account` (with its password hash `stored`, as `accounts.login_candidate` read them
        just now) when it is an enabled user and `password` is its password, else None.

        A hash made with older argon2 parameters is replaced on the way (except in read-only mode),
        so stored hashes follow the parameters without a reset."""
        if self.recall(username, password, account) is not None:
            return account
        usable = account is not None and account.enabled and account.kind == "user"
        self.verifications += 1
        ok = await _password_matches(stored, password)
        if not ok or account is None or not usable:
            return None
        if not db.read_only and stored is not None and accounts.password_needs_rehash(stored):
            fresh = await _on_pool(accounts.hash_password, password)
            await db.write(accounts.replace_password_hash, account.id, stored, fresh)
        self._remember(self._digest(username, password), account)
        return account

    def remember(self, username: str, password: str, account: AccountRecord) -> None:
        """Remember that `password` was verified for `account` elsewhere (a directory)."""
        self._remember(self._digest(username, password), account)

    def recall(self, username: str, password: str, account: AccountRecord | None) -> AccountRecord | None:
        """`account`, when it is an enabled user and this password was verified for it in the last
        `ttl_s` seconds at its current credential generation; else None (then `verify`)."""
        if account is None or not account.enabled or account.kind != "user":
            return None
        if not self._remembered(self._digest(username, password), account):
            return None
        self.remembered_logins += 1
        return account

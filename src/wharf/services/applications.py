"""OAuth applications' use cases that /api/v1 and the web share beyond one core call."""

from __future__ import annotations

from wharf.auth.identity import Identity
from wharf.core import accounts, applications, audit, tokens
from wharf.core.applications import ApplicationRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime


async def mint_token(
    rt: Runtime,
    app: ApplicationRecord,
    who: Identity,
    scope: str,
    *,
    title: str,
    lifetime_ms: int | None,
    actor: audit.Actor,
) -> tuple[str, tokens.TokenInfo]:
    """A token for `app` acting as the signed-in caller `who`, without the browser flow, carrying
    no scope the caller's own token lacks: its secret (the only copy) and what the token list will
    show. The caller's account is read in the same transaction that mints."""
    account_id = who.account_id
    assert account_id is not None, "a signed-in caller has an account"

    def apply(db: Db) -> tuple[str, tokens.TokenInfo]:
        me = accounts.get_by_id(db, account_id)
        assert me is not None, "the caller's account was read when the caller was"
        return applications.mint_token(
            db, app, me, scope, caller_scopes=who.scopes, title=title, lifetime_ms=lifetime_ms, actor=actor
        )

    return await rt.db.write(apply)

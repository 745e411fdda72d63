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


async def exchange_code(
    rt: Runtime, app: ApplicationRecord, code: str, redirect_uri: str | None, address: str | None
) -> tuple[str, frozenset[str]] | None:
    """Trade an authorization code for a token (RFC 6749 4.1.3): the token and its scopes, or None
    when the code is invalid, expired, spent or for another redirect URI. Spending the code and
    minting the token commit together, so a failure in between neither loses the code nor leaves
    a token nobody received; an attempt that finds the code wrong still spends it."""

    def apply(db: Db) -> tuple[str, frozenset[str]] | None:
        redeemed = applications.redeem_code(db, app, code, redirect_uri)
        if redeemed is None:
            return None
        account, granted = redeemed
        actor = audit.Actor(account.id, account.name, address)
        return applications.grant_token(db, app, account, granted, actor), granted

    return await rt.db.write(apply)

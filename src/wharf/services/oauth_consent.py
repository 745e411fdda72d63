"""What the consent page's approval gives an OAuth application: a single-use code (code grant) or
a token (implicit grant) acting as the approver, whose account is read in the same transaction."""

from __future__ import annotations

from wharf.core import accounts, applications, audit
from wharf.core.accounts import AccountRecord
from wharf.core.applications import ApplicationRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime


def _approver(db: Db, account_id: int) -> AccountRecord:
    account = accounts.get_by_id(db, account_id)
    assert account is not None, "the approver's account was read when the approver signed in"
    return account


async def issue_code(
    rt: Runtime, app: ApplicationRecord, account_id: int, granted: frozenset[str], redirect_uri: str
) -> str:
    """A code the application trades with its client secret for a token (/oauth/access_token)."""

    def apply(db: Db) -> str:
        return applications.issue_code(db, app, _approver(db, account_id), granted, redirect_uri)

    return await rt.db.write(apply)


async def grant_token(
    rt: Runtime, app: ApplicationRecord, account_id: int, granted: frozenset[str], actor: audit.Actor
) -> str:
    """The token itself, handed to the application in the redirect."""

    def apply(db: Db) -> str:
        return applications.grant_token(db, app, _approver(db, account_id), granted, actor)

    return await rt.db.write(apply)

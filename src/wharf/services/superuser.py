"""What a superuser does to another namespace that takes more than one core call."""

from __future__ import annotations

from wharf.core import accounts, audit, orgs
from wharf.core.accounts import AccountRecord
from wharf.core.errors import NotFound
from wharf.db.engine import Db
from wharf.runtime import Runtime


async def take_ownership(rt: Runtime, target: AccountRecord, superuser_id: int, by: audit.Actor) -> None:
    """Put the superuser `superuser_id` in the owners team of `target` (a user namespace becomes an
    organization), reading the superuser's account in the same transaction. Whether the superuser
    may is the surface's check (`permissions.why_superuser_may_not`)."""

    def apply(db: Db) -> None:
        me = accounts.get_by_id(db, superuser_id)
        if me is None:
            raise NotFound("the superuser's account no longer exists")
        orgs.take_ownership(db, target, me, by)

    await rt.db.write(apply)

"""An organization with what one caller may do in it: the record every organization page of the
web starts from, read in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import orgs
from wharf.core.accounts import AccountRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime


@dataclass(frozen=True, slots=True)
class OrgRoles:
    org: AccountRecord
    is_admin: bool
    """Administers it: an admin team's member (with the org:admin scope), or a superuser."""
    is_member: bool


async def of(rt: Runtime, who: Identity, name: str) -> OrgRoles | None:
    """The organization named `name` with whether `who` administers it and belongs to it; None
    when there is no organization of that name (a user's name included)."""

    def read(db: Db) -> OrgRoles | None:
        org = orgs.get(db, name)
        if org is None:
            return None
        return OrgRoles(org, permissions.can_admin_org(db, who, org), permissions.is_org_member(db, who, org))

    return await rt.db.read(read)

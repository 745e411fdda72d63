"""An organization's default permissions (Quay's "prototypes") as the web's tab shows them: the
permissions with the teams a new one may name, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import prototypes, teams
from wharf.core.accounts import AccountRecord
from wharf.core.prototypes import PrototypeRecord
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime


@dataclass(frozen=True, slots=True)
class DefaultPermissions:
    prototypes: list[PrototypeRecord]
    teams: list[TeamRecord]
    """The organization's teams, which a new default permission may name."""


async def of_org(rt: Runtime, org: AccountRecord) -> DefaultPermissions:
    def read(db: Db) -> DefaultPermissions:
        return DefaultPermissions(prototypes.list_for(db, org), teams.list_teams(db, org.id))

    return await rt.db.read(read)

"""Turning a user into an organization (Quay's convertUserToOrganization): the namespace, its
repositories and robots stay; the account can no longer sign in; another user, `admin`, becomes
the only member of its `owners` team.

Whatever let someone act as the old user ends in the same transaction: its password, browser
sessions, OAuth and app tokens, external logins, recovery codes and team invitations are
deleted, its registry tokens revoked, and its direct roles on repositories removed (as Quay
does: an organization holds no roles, its teams do).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, select, update

from wharf.core import audit, revocation, teams
from wharf.core.accounts import AccountRecord, get_by_id
from wharf.core.errors import InvalidInput
from wharf.core.orgs import OWNERS
from wharf.db.engine import Db
from wharf.db.models import (
    AccessToken,
    Account,
    AppToken,
    FederatedLogin,
    RecoveryToken,
    RepositoryPermission,
    TeamInvite,
    TeamMember,
    WebSession,
)

_ENDED: tuple[Any, ...] = (
    AccessToken.account_id,
    AppToken.account_id,
    FederatedLogin.account_id,
    RecoveryToken.account_id,
    TeamInvite.user_id,
    WebSession.account_id,
)
"""The columns naming the account in the rows that end with the user."""


def _check(db: Db, user: AccountRecord, admin: AccountRecord) -> None:
    if user.kind != "user":
        raise InvalidInput("only a user can be converted into an organization")
    if admin.id == user.id or admin.kind != "user" or not admin.enabled:
        raise InvalidInput("The admin user is not valid: name another user, who will own the organization")
    if user.is_superuser:
        raise InvalidInput("a superuser cannot be converted into an organization")
    if db.execute(select(exists().where(TeamMember.account_id == user.id))).scalar():
        # An organization cannot be in another organization's teams.
        raise InvalidInput("leave every organization first: an organization cannot be a member of a team")


def convert(db: Db, user: AccountRecord, admin: AccountRecord, actor: audit.Actor | None) -> AccountRecord:
    """Convert `user` into an organization owned by `admin`; returns the organization."""
    _check(db, user, admin)
    revocation.revoke(db, [user.id])
    for column in _ENDED:
        db.execute(delete(column.table).where(column == user.id))
    db.execute(delete(RepositoryPermission).where(RepositoryPermission.account_id == user.id))
    db.execute(update(Account).where(Account.id == user.id).values(kind="org", password_hash=None))
    org = get_by_id(db, user.id)
    assert org is not None
    owners = teams.upsert(db, org, OWNERS, "admin", "Owners of the organization", actor)
    teams.add_member(db, org, owners, admin, actor)
    audit.record(db, "account_convert", actor, namespace_id=org.id, namespace=org.name, admin=admin.name)
    return org

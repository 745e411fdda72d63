"""User accounts linked to an identity elsewhere (an LDAP directory's entry), as Quay's
FederatedLogin: a sign-in there is a sign-in to the linked account, whatever it is called here.

A directory user's first sign-in creates the account. Its name is the directory's name when that
is a valid, free namespace name; otherwise the first free variant of it (`jane.doe1`...), as Quay
does, rather than taking over a local account that happens to have the same name. The account
has no password of its own: the directory keeps deciding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from wharf.core import accounts, audit, revocation
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, NotAllowed, NotFound
from wharf.db.engine import Db
from wharf.db.models import Account, FederatedLogin, Repository

LDAP = "ldap"

_INVALID = re.compile(r"[^a-z0-9._-]+")


class UserCreationDisabled(NotAllowed):
    """User creation is disabled (FEATURE_USER_CREATION): ask an administrator for access."""


@dataclass(frozen=True, slots=True)
class ExternalUser:
    """What the external system says about a user who just proved who they are."""

    ident: str
    """Its name for the user (stable: the link's key)."""
    email: str | None
    superuser: bool | None
    """None: the external system does not decide (an OIDC provider); the account keeps its own."""
    restricted: bool = False
    """A restricted user: no organizations or repositories of their own (FEATURE_RESTRICTED_USERS)."""
    name: str | None = None
    """The name a new account would like (an OIDC preferred-username claim); `ident` otherwise."""


def account_for(db: Db, service: str, ident: str) -> AccountRecord | None:
    """The account linked to `ident` at `service`, or None."""
    row = db.execute(
        select(*accounts.COLUMNS)
        .join(FederatedLogin, FederatedLogin.account_id == Account.id)
        .where(FederatedLogin.service == service, FederatedLogin.service_ident == ident)
    ).first()
    return accounts.record(row) if row is not None else None


def idents_of(db: Db, account_id: int) -> dict[str, str]:
    """{service: ident} of every link the account has."""
    rows = db.execute(
        select(FederatedLogin.service, FederatedLogin.service_ident).where(
            FederatedLogin.account_id == account_id
        )
    ).all()
    return {r.service: r.service_ident for r in rows}


def _candidates(ident: str) -> Iterator[str]:
    base = _INVALID.sub("_", ident.lower()).strip("._-")[:250]
    base = re.sub(r"[._-]{2,}", "_", base)
    if len(base) < 2:
        base = (base + "user")[:250]
    yield base
    for n in range(1, 10_000):
        yield f"{base}{n}"


def sign_in(
    db: Db, service: str, user: ExternalUser, *, may_create: bool, actor_ip: str | None = None
) -> AccountRecord:
    """The account `user` signs in to: the linked one, kept in step with what the external system
    says (e-mail, superuser), or a new one linked now. Raises UserCreationDisabled when there is
    none and `may_create` is false."""
    account = account_for(db, service, user.ident)
    if account is not None:
        return _in_step(db, account, service, user)
    if not may_create:
        raise UserCreationDisabled()
    wanted = user.name or user.ident
    name = next(n for n in _candidates(wanted) if accounts.get_by_name(db, n) is None)
    actor = audit.Actor(None, name, actor_ip)
    created = accounts.create_user(db, name, None, user.email, superuser=bool(user.superuser), actor=actor)
    db.execute(
        insert(FederatedLogin).values(
            account_id=created.id,
            service=service,
            service_ident=user.ident,
            created_ms=now_ms(),
            restricted=user.restricted,
            # Not the name the user is known by elsewhere (Jane.Doe is jane.doe without asking)
            confirm_username=name != wanted.lower(),
        )
    )
    return created


def _in_step(db: Db, account: AccountRecord, service: str, user: ExternalUser) -> AccountRecord:
    _restrict(db, account.id, service, user.restricted)
    changes: dict[str, object] = {}
    if user.email and user.email != account.email:
        changes["email"] = user.email
    if user.superuser is not None and user.superuser != account.is_superuser:
        changes["is_superuser"] = user.superuser
    if not changes:
        return account
    db.execute(update(Account).where(Account.id == account.id).values(**changes))
    if "is_superuser" in changes and not user.superuser:
        # Tokens carry what the account could do when they were issued: a lost superuser right
        # must end them, as any other lost right does.
        revocation.revoke(db, [account.id])
    fresh = accounts.get_by_id(db, account.id)
    assert fresh is not None
    return fresh


def link(db: Db, service: str, ident: str, email: str | None) -> AccountRecord:
    """The account linked to `ident`, made now when there is none: team synchronization brings a
    group's people in before their first sign-in, as Quay does, whatever FEATURE_USER_CREATION
    says (an administrator chose the group). Their superuser right waits for that sign-in."""
    account = account_for(db, service, ident)
    if account is not None:
        return account
    return sign_in(db, service, ExternalUser(ident, email, superuser=False), may_create=True)


def linked_page(db: Db, service: str, after_id: int, limit: int) -> list[tuple[int, str, int]]:
    """(link id, ident, account id) of enabled accounts linked at `service`, in id order after
    `after_id`: a bounded page for the periodic check that they are still there."""
    rows = db.execute(
        select(FederatedLogin.id, FederatedLogin.service_ident, FederatedLogin.account_id)
        .join(Account, Account.id == FederatedLogin.account_id)
        .where(FederatedLogin.service == service, FederatedLogin.id > after_id, Account.enabled.is_(True))
        .order_by(FederatedLogin.id)
        .limit(limit)
    ).all()
    return [(r.id, r.service_ident, r.account_id) for r in rows]


def _restrict(db: Db, account_id: int, service: str, restricted: bool) -> None:
    # Only the link signed in with: each source keeps its own word (an OIDC provider, which never
    # restricts, must not clear the restriction the directory put on the same account).
    result = db.execute(
        update(FederatedLogin)
        .where(
            FederatedLogin.account_id == account_id,
            FederatedLogin.service == service,
            FederatedLogin.restricted.is_not(restricted),
        )
        .values(restricted=restricted)
    )
    if result.rowcount and restricted:
        # Its tokens may push to its own namespace, which it may no longer create in.
        revocation.revoke(db, [account_id])


def is_restricted(db: Db, account_id: int) -> bool:
    """Whether the account is a restricted user: any of its sources says so (as the last sign-in
    through that source found it)."""
    row = db.execute(
        select(FederatedLogin.id).where(
            FederatedLogin.account_id == account_id, FederatedLogin.restricted.is_(True)
        )
    ).first()
    return row is not None


class AlreadyLinked(NotAllowed):
    """The external identity is linked to another account, or the account to another identity there."""


def attach(db: Db, service: str, ident: str, account_id: int) -> None:
    """Link an existing account to `ident` at `service` (a signed-in user attaching a provider).
    An identity signs in to one account only, and an account has one identity per service."""
    owner = account_for(db, service, ident)
    if owner is not None:
        if owner.id == account_id:
            return
        raise AlreadyLinked(f"this {service} identity is already linked to another account")
    if service in idents_of(db, account_id):
        raise AlreadyLinked(f"the account is already linked to another {service} identity")
    db.execute(
        insert(FederatedLogin).values(
            account_id=account_id, service=service, service_ident=ident, created_ms=now_ms()
        )
    )


def detach(db: Db, service: str, account_id: int) -> bool:
    """Remove the account's link to `service`; False when it had none."""
    result = db.execute(
        delete(FederatedLogin).where(
            FederatedLogin.account_id == account_id, FederatedLogin.service == service
        )
    )
    return bool(result.rowcount)


def name_unconfirmed(db: Db, account_id: int) -> bool:
    """Whether the account was made at a first external sign-in under a name of Wharf's choosing
    (the external one was not a valid or free namespace name), which its owner has not confirmed
    or changed yet (Quay's confirm_username prompt)."""
    row = db.execute(
        select(FederatedLogin.id).where(
            FederatedLogin.account_id == account_id, FederatedLogin.confirm_username.is_(True)
        )
    ).first()
    return row is not None


class NameConfirmed(NotAllowed):
    """The account's name is no longer to be confirmed: Wharf does not rename accounts otherwise."""


def confirm_username(db: Db, account_id: int, name: str | None, actor: audit.Actor) -> AccountRecord:
    """Keep the name Wharf chose for a new external account (`name` None or the same) or change it,
    once. A rename is refused once the namespace holds repositories or robots: their names (and
    pulls, and robots' tokens) carry the namespace's."""
    account = accounts.get_by_id(db, account_id)
    if account is None:
        raise NotFound("no such user")
    if not name_unconfirmed(db, account_id):
        raise NameConfirmed(f"the name {account.name!r} is confirmed already: it can no longer change")
    if name is not None and name != account.name:
        accounts.check_username(name)
        if accounts.get_by_name(db, name) is not None:
            raise AlreadyExists(f"the name {name!r} is taken", field="name")
        owns = (
            db.execute(
                select(Account.id).where(Account.kind == "robot", Account.name.startswith(account.name + "+"))
            ).first()
            or db.execute(select(Repository.id).where(Repository.namespace_id == account_id)).first()
        )
        if owns is not None:
            raise NameConfirmed(
                f"{account.name} already holds repositories or robots, whose names carry it: keep it"
            )
        db.execute(update(Account).where(Account.id == account_id).values(name=name))
        revocation.revoke(db, [account_id])  # registry tokens name the account
        audit.record(
            db, "user_change_name", actor, namespace_id=account_id, username=name, old_username=account.name
        )
    db.execute(
        update(FederatedLogin).where(FederatedLogin.account_id == account_id).values(confirm_username=False)
    )
    fresh = accounts.get_by_id(db, account_id)
    assert fresh is not None
    return fresh

"""Turning the username and password a client sends into an identity.

`docker login` sends one of: a user's password; a robot's token as the password of `owner+name`;
an app-specific token as the password of `$app`; an OAuth access token as the password of
`$oauthtoken` (its scopes then cap what the login may do).

Every attempt is recorded in the audit log, and failures slow down further attempts from the
address that failed, for the same account or token (see `core/logins.py`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar, cast

from wharf.auth import client_keys, permissions
from wharf.auth.context import AuthRuntime
from wharf.auth.identity import Identity
from wharf.auth.tokens import RobotPassword
from wharf.config import Settings
from wharf.core import apptokens, federated_logins, logins, robots, tokens
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.db.engine import Db


class LoginThrottled(Exception):
    """Too many failed logins: retry after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def parse_basic(header: str) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic ...` header value, or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def robots_allowed(rt: AuthRuntime, name: str) -> bool:
    return _robots_allowed(rt.settings, name)


def _robots_allowed(settings: Settings, name: str) -> bool:
    return not settings.ROBOTS_DISALLOW or name in settings.ROBOTS_WHITELIST


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Found:
    """What a login's one read transaction found: the throttle's verdict, the account the
    credentials name (proven already for token logins, whose secret is compared in the read), and
    what `then` made of the identity they would prove."""

    wait_ms: int
    failed_before: bool
    identity: Identity | None = None
    """The identity the credentials name; None when they can name none (unknown, disabled...)."""
    account: AccountRecord | None = None
    stored_hash: str | None = None
    robot: robots.RobotRecord | None = None
    touch_app_token: bool = False
    then: object = None


def _read(
    db: Db,
    settings: Settings,
    username: str,
    password: str,
    subject: str,
    address: str | None,
    then: Callable[[Db, Identity], object] | None,
) -> _Found:
    """Everything a login reads, in one transaction (no argon2 in here: see auth/passwords.py)."""
    if username not in ("$app", "$oauthtoken") and "+" not in username:
        return _then(db, _read_password(db, settings, username, subject, address), then)
    identity: Identity | None = None
    wait_ms, failed_before = logins.status(db, subject, address)
    if wait_ms > 0:
        return _Found(wait_ms, failed_before)
    if username == "$app":
        app = apptokens.resolve_login(db, password)
        if app is not None:
            identity = _identity("appspecifictoken", settings, app.account)
        found = _Found(0, failed_before, identity, touch_app_token=app is not None and app.needs_touch)
    elif username == "$oauthtoken":
        owner = tokens.resolve(db, password)
        if owner is not None:
            identity = _identity("oauthtoken", settings, owner.account, scopes=owner.scopes)
        found = _Found(0, failed_before, identity)
    else:
        robot = robots.get_by_name(db, username)
        if robot is not None and robot.account.enabled and _robots_allowed(settings, username):
            identity = Identity(
                "robot", robot.account.id, robot.account.name, generation=robot.account.credential_gen
            )
        found = _Found(0, failed_before, identity, robot=robot)
    return _then(db, found, then)


def _read_password(db: Db, settings: Settings, username: str, subject: str, address: str | None) -> _Found:
    identity: Identity | None = None
    if settings.AUTHENTICATION_TYPE == "LDAP":
        # A directory password: the account is the one linked to that directory name, whatever
        # it is called here (core/federated_logins.py).
        wait_ms, failed_before = logins.status(db, subject, address)
        account = federated_logins.account_for(db, federated_logins.LDAP, username) if wait_ms <= 0 else None
        stored = None
    else:
        # The throttle's counters and the account in one statement.
        wait_ms, failed_before, account, stored = logins.status_and_user(db, subject, address, username)
    if wait_ms > 0:
        return _Found(wait_ms, failed_before)
    if account is not None and account.enabled and account.kind == "user":
        identity = _identity("user", settings, account)
    return _Found(0, failed_before, identity, account, stored)


def _then(db: Db, found: _Found, then: Callable[[Db, Identity], object] | None) -> _Found:
    if then is None or found.identity is None:
        return found
    # Worked out before the secret is checked, so that a login with a token request costs one
    # transaction; thrown away unless the credentials prove this very identity.
    return replace(found, then=then(db, found.identity))


def _identity(
    kind: str, settings: Settings, account: AccountRecord, scopes: frozenset[str] | None = None
) -> Identity:
    superuser = permissions.is_configured_superuser(settings, account)
    generation = account.credential_gen
    return Identity(kind, account.id, account.name, superuser, scopes=scopes, generation=generation)


async def basic_login(
    rt: AuthRuntime, username: str, password: str, address: str | None = None, *, audit_success: bool = True
) -> Identity | None:
    """The identity these credentials prove, or None. Raises LoginThrottled while blocked.

    Failures are always recorded. A success is written to the audit log when `audit_success` (a
    login as such, not each token request of a pull, which would make every pull write), and
    clears the username's failure counter when it has one."""
    identity, _ = await login_and(rt, username, password, None, address, audit_success=audit_success)
    return identity


async def login_and(
    rt: AuthRuntime,
    username: str,
    password: str,
    then: Callable[[Db, Identity], T] | None,
    address: str | None = None,
    *,
    audit_success: bool = True,
) -> tuple[Identity | None, T | None]:
    """`basic_login`, and `then(db, identity)` for the identity proven, read in the same
    transaction as the credentials' account (a token request's access decisions)."""
    subject = throttle_subject(username, password)
    found = await rt.db.read(_read, rt.settings, username, password, subject, address, then)
    if found.wait_ms > 0:
        raise LoginThrottled(-(-found.wait_ms // 1000))
    identity = await _check(rt, username, password, found)
    if identity is None:
        await rt.db.record(logins.record_failure, subject, address, _kind(username), username)
        return None, None
    assert identity.account_id is not None
    if audit_success or found.failed_before:
        await rt.db.record(
            logins.record_success,
            identity.account_id,
            username,
            address,
            identity.kind,
            audit_it=audit_success,
            subject=subject,
        )
    if then is None:
        return identity, None
    if identity == found.identity:
        return identity, cast(T, found.then)
    return identity, await rt.db.read(then, identity)


def throttle_subject(username: str, password: str) -> str:
    """What failed logins are counted against: the username, or for a token login the token's
    lookup part (public, unlike its secret part), so that one token's failures neither slow other
    tokens nor every `$app` / `$oauthtoken` login. Anything not shaped like a token shares one
    subject per kind: it can never succeed, so slowing it harms no one."""
    lengths = {
        "$app": apptokens.LOOKUP_LENGTH + apptokens.SECRET_LENGTH,
        "$oauthtoken": tokens.LOOKUP_LENGTH + tokens.SECRET_LENGTH,
    }
    if username not in lengths:
        return username
    lookup_length = apptokens.LOOKUP_LENGTH if username == "$app" else tokens.LOOKUP_LENGTH
    if len(password) != lengths[username]:
        return f"{username}:malformed"
    return f"{username}:{password[:lookup_length]}"


def _kind(username: str) -> str:
    return {"$app": "appspecifictoken", "$oauthtoken": "oauthtoken"}.get(
        username, "robot" if "+" in username else "user"
    )


async def _check(rt: AuthRuntime, username: str, password: str, found: _Found) -> Identity | None:
    """The identity the credentials prove: `found.identity` once its secret is checked, or None.
    Robot and app tokens are high-entropy, compared with a hash or a decryption in constant time;
    only passwords, which people choose, cost argon2."""
    if username in ("$app", "$oauthtoken"):
        # The token's secret was compared in the read (core/apptokens.py, core/tokens.py).
        if found.identity is not None and found.touch_app_token:
            await rt.db.record(apptokens.touch, password)
        return found.identity
    if "+" in username:
        robot = found.robot
        if robot is None or found.identity is None:
            return None
        if not await _robot_secret_matches(rt, robot, password):
            return None
        now = now_ms()
        if robots.needs_access_mark(robot, now):
            await rt.db.record(robots.mark_accessed, robot.account.id, now)
        return found.identity
    if rt.directory is not None:
        return await _directory_check(rt, username, password, found)
    # A password verified lately; a client key (generateUserClientKey), which opens only with the
    # server's key; only then argon2.
    account = rt.passwords.recall(username, password, found.account)
    if account is None:
        account = await client_keys.account_for(rt, username, password)
    if account is None:
        account = await rt.passwords.verify(rt.db, username, password, found.account, found.stored_hash)
    if account is None:
        return None
    proven = _identity("user", rt.settings, account)
    return found.identity if proven == found.identity else proven


async def _directory_check(rt: AuthRuntime, username: str, password: str, found: _Found) -> Identity | None:
    """A directory user's password: verified lately, or by the directory (which raises
    core.errors.Unavailable when it cannot answer: the login fails closed). The first success
    creates the linked account; each one brings its e-mail and superuser right in step."""
    assert rt.directory is not None
    keyed = client_keys.directory_password(rt, password)
    if keyed is not None:
        password = keyed[1]  # a client key: the directory decides on the password it holds
    account = rt.passwords.recall(username, password, found.account)
    if account is None:
        user = await rt.directory.authenticate(username, password)
        if user is None:
            return None
        may_create = rt.settings.FEATURE_USER_CREATION
        ldap = federated_logins.LDAP
        account = await rt.db.write(federated_logins.sign_in, ldap, user, may_create=may_create)
        if not account.enabled:
            return None
        rt.passwords.remember(username, password, account)
    if keyed is not None and keyed[0] != account.id:
        return None  # a key of another account (the directory entry was linked anew since)
    proven = _identity("user", rt.settings, account)
    return found.identity if proven == found.identity else proven


async def _robot_secret_matches(rt: AuthRuntime, robot: robots.RobotRecord, password: str) -> bool:
    """A robot logs in with its token, with a token from the federation exchange, or directly with
    an OIDC token of an identity it trusts.

    A JWT signed with our own key is only ever a federation robot token, issued to this very robot
    account at its current credential generation; a registry token is never a password."""
    if password.count(".") != 2:
        return robots.token_matches(rt.secrets, robot, password)
    if rt.tokens.signed_here(password):
        issued = rt.tokens.verify_robot(password)
        return issued is not None and issued == robot_password(robot)
    return await federated_identity_matches(rt, robot, password)


def robot_password(robot: robots.RobotRecord) -> RobotPassword:
    """What a federation robot token issued to this robot now says."""
    return RobotPassword(robot.account.name, robot.account.id, robot.account.credential_gen)


async def federated_identity_matches(rt: AuthRuntime, robot: robots.RobotRecord, oidc_token: str) -> bool:
    """Whether an OIDC token verifies and names an (issuer, subject) the robot trusts."""
    issuer = rt.oidc.unverified_issuer(oidc_token)
    trusted = await rt.db.read(robots.federation, robot.account.id)
    if issuer is None or issuer not in {i for i, _ in trusted}:
        return False
    claims = await rt.oidc.claims(oidc_token, issuer)
    return claims is not None and (issuer, claims.get("sub")) in trusted

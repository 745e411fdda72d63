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

from wharf.auth import client_keys, permissions
from wharf.auth.identity import Identity
from wharf.auth.tokens import RobotPassword
from wharf.core import apptokens, logins, robots, tokens
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.integrations import oidc
from wharf.runtime import Runtime


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


def robots_allowed(rt: Runtime, name: str) -> bool:
    return not rt.settings.ROBOTS_DISALLOW or name in rt.settings.ROBOTS_WHITELIST


def _superuser(rt: Runtime, account: AccountRecord) -> bool:
    return permissions.is_configured_superuser(rt.settings, account)


async def basic_login(
    rt: Runtime, username: str, password: str, address: str | None = None, *, audit_success: bool = True
) -> Identity | None:
    """The identity these credentials prove, or None. Raises LoginThrottled while blocked.

    Failures are always recorded. A success is written to the audit log when `audit_success` (a
    login as such, not each token request of a pull, which would make every pull write), and
    clears the username's failure counter when it has one."""
    subject = throttle_subject(username, password)
    wait_ms, failed_before = await rt.db.read(logins.status, subject, address)
    if wait_ms > 0:
        raise LoginThrottled(-(-wait_ms // 1000))
    identity = await _check(rt, username, password)
    if identity is None:
        await rt.db.record(logins.record_failure, subject, address, _kind(username), username)
        return None
    assert identity.account_id is not None
    if audit_success or failed_before:
        await rt.db.record(
            logins.record_success,
            identity.account_id,
            username,
            address,
            identity.kind,
            audit_it=audit_success,
            subject=subject,
        )
    return identity


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


async def _check(rt: Runtime, username: str, password: str) -> Identity | None:
    if username == "$app":
        account = await rt.db.read(apptokens.resolve, password)
        if account is None:
            return None
        await rt.db.record(apptokens.touch, password)
        return Identity(
            "appspecifictoken",
            account.id,
            account.name,
            _superuser(rt, account),
            generation=account.credential_gen,
        )
    if username == "$oauthtoken":
        owner = await rt.db.read(tokens.resolve, password)
        if owner is None:
            return None
        account = owner.account
        return Identity(
            "oauthtoken",
            account.id,
            account.name,
            _superuser(rt, account),
            scopes=owner.scopes,
            generation=account.credential_gen,
        )
    if "+" in username:
        robot = await rt.db.read(robots.get_by_name, username)
        if robot is None or not robot.account.enabled or not robots_allowed(rt, username):
            return None
        if not await _robot_secret_matches(rt, robot, password):
            return None
        now = now_ms()
        if robots.needs_access_mark(robot, now):
            await rt.db.record(robots.mark_accessed, robot.account.id, now)
        return Identity(
            "robot", robot.account.id, robot.account.name, generation=robot.account.credential_gen
        )
    account = await rt.passwords.authenticate(rt.db, username, password)
    if account is None:
        account = await client_keys.account_for(rt, username, password)  # generateUserClientKey
    if account is None:
        return None
    return Identity(
        "user", account.id, account.name, _superuser(rt, account), generation=account.credential_gen
    )


async def _robot_secret_matches(rt: Runtime, robot: robots.RobotRecord, password: str) -> bool:
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


async def federated_identity_matches(rt: Runtime, robot: robots.RobotRecord, oidc_token: str) -> bool:
    """Whether an OIDC token verifies and names an (issuer, subject) the robot trusts."""
    issuer = oidc.unverified_issuer(oidc_token)
    trusted = await rt.db.read(robots.federation, robot.account.id)
    if issuer is None or issuer not in {i for i, _ in trusted}:
        return False
    try:
        claims = await oidc.verify(oidc_token, issuer, rt.settings)
    except oidc.OIDCError:
        return False
    return (issuer, claims.get("sub")) in trusted

"""Turning the username and password a client sends into an identity.

`docker login` sends one of: a user's password; a robot's token as the password of `owner+name`;
an app-specific token as the password of `$app`; an OAuth access token as the password of
`$oauthtoken` (its scopes then cap what the login may do).
"""

from __future__ import annotations

from wharf.auth import passwords
from wharf.auth.identity import Identity
from wharf.core import apptokens, robots, tokens
from wharf.core.accounts import AccountRecord
from wharf.runtime import Runtime


def robots_allowed(rt: Runtime, name: str) -> bool:
    return not rt.settings.ROBOTS_DISALLOW or name in rt.settings.ROBOTS_WHITELIST


async def basic_login(rt: Runtime, username: str, password: str) -> Identity | None:
    if username == "$app":
        account = await rt.db.read(apptokens.resolve, password)
        if account is None:
            return None
        await rt.db.write(apptokens.touch, password)
        return Identity("appspecifictoken", account.id, account.name, _superuser(rt, account))
    if username == "$oauthtoken":
        owner = await rt.db.read(tokens.resolve, password)
        if owner is None:
            return None
        account = owner.account
        return Identity("oauthtoken", account.id, account.name, _superuser(rt, account), scopes=owner.scopes)
    if "+" in username:
        robot = await rt.db.read(robots.get_by_name, username)
        if robot is None or not robot.account.enabled or not robots_allowed(rt, username):
            return None
        if not robots.token_matches(rt.secrets, robot, password):
            return None
        return Identity("robot", robot.account.id, robot.account.name)
    account = await passwords.authenticate(rt.db, username, password)
    if account is None:
        return None
    return Identity("user", account.id, account.name, _superuser(rt, account))


def _superuser(rt: Runtime, account: AccountRecord) -> bool:
    return account.is_superuser or account.name in rt.settings.SUPER_USERS

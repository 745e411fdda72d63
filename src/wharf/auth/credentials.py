"""Turning the username and password a client sends into an identity.

`docker login` sends one of: a user's password, or a robot's token as the password of
`owner+name`. (App tokens and OAuth tokens as passwords come with their own work.)
"""

from __future__ import annotations

from wharf.auth import passwords
from wharf.auth.identity import Identity
from wharf.core import robots
from wharf.runtime import Runtime


def robots_allowed(rt: Runtime, name: str) -> bool:
    return not rt.settings.ROBOTS_DISALLOW or name in rt.settings.ROBOTS_WHITELIST


async def basic_login(rt: Runtime, username: str, password: str) -> Identity | None:
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
    superuser = account.is_superuser or account.name in rt.settings.SUPER_USERS
    return Identity("user", account.id, account.name, superuser)

"""Client keys: `POST /api/v1/user/clientkey` answers a key that logs the user in where their
password would (docker login), as on Quay. The key is sealed with the server's secret key, names
the account, and holds a fingerprint of the password hash, never the password: changing the
password ends every key.

A directory user has no password here to take a fingerprint of: their key is Quay's "encrypted
password", the directory password sealed with the server's key. The server keeps nothing; each
use opens it and asks the directory, so a password changed or a user removed there ends it, and
an unreachable directory refuses it as it refuses the password."""

from __future__ import annotations

import hmac

from wharf.auth.context import AuthRuntime
from wharf.core import accounts, client_keys
from wharf.core.accounts import AccountRecord

_PREFIX = "wharf-clientkey:"
_DIRECTORY_PREFIX = "wharf-clientkey-ldap:"


def seal(rt: AuthRuntime, account_id: int, fingerprint: str) -> str:
    return rt.secrets.seal(f"{_PREFIX}{account_id}:{fingerprint}")


async def account_for(rt: AuthRuntime, username: str, key: str) -> AccountRecord | None:
    """The user this key belongs to, when `username` names it and its password is unchanged."""
    if len(key) > 1024:
        return None
    opened = rt.secrets.open(key)
    if opened is None or not opened.startswith(_PREFIX):
        return None
    account_id, _, fingerprint = opened.removeprefix(_PREFIX).partition(":")
    if not account_id.isascii() or not account_id.isdigit():
        return None
    account = await rt.db.read(accounts.get_by_id, int(account_id))
    if account is None or account.name != username or account.kind != "user" or not account.enabled:
        return None
    current = await rt.db.read(client_keys.fingerprint, account.id)
    if current is None or not hmac.compare_digest(current, fingerprint):
        return None
    return account


def seal_directory(rt: AuthRuntime, account_id: int, password: str) -> str:
    return rt.secrets.seal(f"{_DIRECTORY_PREFIX}{account_id}:{password}")


def directory_password(rt: AuthRuntime, key: str) -> tuple[int, str] | None:
    """(the account id, the directory password) a directory user's key holds; None for anything
    else (a password, another kind of key)."""
    if len(key) > 4096:
        return None
    opened = rt.secrets.open(key)
    if opened is None or not opened.startswith(_DIRECTORY_PREFIX):
        return None
    account_id, _, password = opened.removeprefix(_DIRECTORY_PREFIX).partition(":")
    if not account_id.isascii() or not account_id.isdigit() or not password:
        return None
    return int(account_id), password

"""The passwords of a mirror's forward proxies, sealed at rest.

A proxy URL of `external_registry_config.proxy` (Quay's field: `http_proxy`, `https_proxy`) may carry
`user:password@`. Quay stores the configuration as plain JSON; Wharf stores each URL with its
password replaced by HIDDEN (so the stored URL is the one the API and the web show) and the
passwords, each sealed with the secret box, in the row's `proxy_passwords_sealed` column as JSON
by field (`{"http_proxy": TOKEN}`). Only the outbound calls open them (`opened`), once per
configuration and process (services/mirroring.py, services/org_mirroring.py).

A client never sends a sealed password: one sent in clear is sealed now, and one sent as HIDDEN
keeps the stored password of that field only when the stored URL is the same but for it (the
same scheme, user, host and port): a HIDDEN password can never send a stored one to another
proxy. Tokens are read from the stored row only, never from what a client sends.

Rows written before (migration 0046) hold clear passwords in their URLs and no sealed column: they
are used as they are, hidden when shown like the others, sealed at the configuration's next
write, or all at once by `wharf admin seal-proxy-passwords` (`seal_stored`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from wharf.core.errors import DomainError, InvalidInput
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import Account, OrgMirrorConfig, RepoMirrorConfig, Repository

HIDDEN = "********"
"""What a proxy URL's password is shown (and stored) as; sent back unchanged, it keeps the stored one."""
FIELDS = ("http_proxy", "https_proxy")
"""The fields of `proxy` that are URLs (`no_proxy` is a list of hosts)."""


def proxy_url(value: str) -> str:
    """A proxy as Quay's field holds it (`http://proxy:3128`, `socks5://proxy:1080`, or
    `proxy:3128`, which curl and Go read as an HTTP proxy), as a URL to call: the scheme written
    in lower case, `http://` when there is none."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    return f"{scheme.lower()}://{rest}" if sep else f"http://{value}"


def _split_auth(url: str) -> tuple[str, str | None, str]:
    """(`scheme://`, `user:password` or None, the rest) of a proxy URL."""
    scheme, sep, rest = url.partition("://")
    head = f"{scheme}{sep}" if sep else ""
    if not sep:
        rest = url
    auth, at, after = rest.rpartition("@")
    return (head, auth, after) if at else (head, None, rest)


def password_of(url: str) -> str | None:
    """The password a proxy URL holds (HIDDEN for a sealed one), None when it has none."""
    _, auth, _ = _split_auth(url)
    if auth is None or ":" not in auth:
        return None
    return auth.split(":", 1)[1]


def _with_password(url: str, password: str) -> str:
    head, auth, rest = _split_auth(url)
    assert auth is not None
    return f"{head}{auth.split(':', 1)[0]}:{password}@{rest}"


def shown_proxy(url: str) -> str:
    """A proxy URL with its password hidden (the user stays: it says which account is used)."""
    return url if password_of(url) is None else _with_password(url, HIDDEN)


def _urls(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, URL) of the configuration's proxy URLs."""
    proxy = config.get("proxy")
    if isinstance(proxy, dict):
        for name in FIELDS:
            value = proxy.get(name)
            if isinstance(value, str) and value:
                yield name, value


def in_clear(config: dict[str, Any]) -> bool:
    """Whether a stored configuration holds a proxy password in clear (a row from before 0046)."""
    return any(password_of(url) not in (None, HIDDEN) for _, url in _urls(config))


def tokens(column: str | None) -> dict[str, str]:
    """The sealed passwords of a row's `proxy_passwords_sealed`, by field."""
    found = json.loads(column) if column else {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored configuration and its row's `proxy_passwords_sealed`: where a password sent as
    HIDDEN is taken from."""

    config: dict[str, Any]
    sealed: str | None = None


def seal(box: SecretBox, config: dict[str, Any], stored: Stored | None) -> tuple[dict[str, Any], str | None]:
    """(the configuration to store, its `proxy_passwords_sealed`): every password in clear sealed
    and shown as HIDDEN in its URL; one sent as HIDDEN takes `stored`'s (its token, or its clear
    password sealed now) when `stored` has the same URL in that field but for the password. Any
    other HIDDEN password is refused: there is none stored for that proxy."""
    before = dict(_urls(stored.config)) if stored is not None else {}
    kept = tokens(stored.sealed) if stored is not None else {}
    sealed: dict[str, str] = {}
    found = config.get("proxy")
    proxy = dict(found) if isinstance(found, dict) else {}
    for name, url in _urls(config):
        password = password_of(url)
        if password is None:
            continue
        if password == HIDDEN:
            old = before.get(name)
            if old is None or shown_proxy(proxy_url(old)) != proxy_url(url):
                raise InvalidInput(
                    f"external_registry_config.proxy.{name}: write the proxy's password ({HIDDEN} is "
                    "how a stored one is shown, and this proxy has none stored)",
                    field=name,
                )
            old_password = password_of(old)
            if old_password == HIDDEN:
                if name not in kept:  # a row whose token went missing: nothing to keep
                    raise InvalidInput(
                        f"external_registry_config.proxy.{name}: write the proxy's password again",
                        field=name,
                    )
                sealed[name] = kept[name]
            else:
                sealed[name] = box.seal(old_password or "")
        else:
            sealed[name] = box.seal(password)
        proxy[name] = shown_proxy(url)
    if not sealed:
        return config, None
    return {**config, "proxy": proxy}, json.dumps(sealed, sort_keys=True)


def columns(box: SecretBox, config: dict[str, Any], stored: Stored | None) -> dict[str, Any]:
    """A mirror row's `external_registry_config` and `proxy_passwords_sealed` for `config` (`seal`)."""
    shown, sealed = seal(box, config, stored)
    return {"external_registry_config": json.dumps(shown), "proxy_passwords_sealed": sealed}


class Unopened(DomainError):
    """A sealed proxy password the secret box cannot open: another key than the one that sealed it
    (a sync fails with this message, which names the field, never the password)."""


def opened(box: SecretBox, config: dict[str, Any], sealed: str | None) -> dict[str, Any]:
    """The configuration with its proxies' passwords in clear, for the outbound calls only (never
    stored, shown or logged). A password in clear (a row from before) is taken as it is."""
    found = tokens(sealed)
    given = config.get("proxy")
    proxy = dict(given) if isinstance(given, dict) else {}
    for name, url in _urls(config):
        if password_of(url) != HIDDEN or name not in found:
            continue
        password = box.open(found[name])
        if password is None:
            raise Unopened(
                f"the password of external_registry_config.proxy.{name} does not open with this "
                "installation's DATABASE_SECRET_KEY"
            )
        proxy[name] = _with_password(url, password)
    return {**config, "proxy": proxy} if proxy else config


# -- sealing the rows written before -----------------------------------------------------------------

_TABLES = (
    (
        "repository mirror",
        RepoMirrorConfig,
        RepoMirrorConfig.repository_id,
        Repository.full_name,
        Repository.id,
    ),
    ("organization mirror", OrgMirrorConfig, OrgMirrorConfig.org_id, Account.name, Account.id),
)


@dataclass(frozen=True, slots=True)
class Found:
    """A mirror configuration with a proxy password in clear."""

    kind: str  # repository mirror | organization mirror
    row_id: int  # the repository's or the organization's id
    name: str  # namespace/repository, or the organization
    fields: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "fields": self.fields}


def in_clear_stored(db: Db) -> list[Found]:
    """Every stored mirror configuration that holds a proxy password in clear."""
    found: list[Found] = []
    for kind, table, key, name, owner in _TABLES:
        statement = select(key, name, table.external_registry_config).join(owner.table, owner == key)
        for row_id, shown_name, text in db.execute(statement.order_by(name)).all():
            fields = [f for f, url in _urls(json.loads(text)) if password_of(url) not in (None, HIDDEN)]
            if fields:
                found.append(Found(kind, int(row_id), str(shown_name), fields))
    return found


def seal_stored(db: Db, box: SecretBox, found: Found) -> bool:
    """Seal the clear passwords of one configuration in place, the rest of it as it is. False when
    it changed meanwhile (that write sealed them) or is gone."""
    table, key = next((t, k) for kind, t, k, _, _ in _TABLES if kind == found.kind)
    row = db.execute(
        select(table.external_registry_config, table.proxy_passwords_sealed).where(key == found.row_id)
    ).first()
    if row is None:
        return False
    text, column = row
    config = json.loads(text)
    if not in_clear(config):
        return False
    # its own stored self: a HIDDEN password of it keeps its token
    values = columns(box, config, Stored(config, column))
    # only if no write came between the read and this one (a write seals them itself)
    changed = db.execute(
        update(table).where(key == found.row_id, table.external_registry_config == text).values(**values)
    )
    return bool(changed.rowcount)


def opens_with(db: Db, box: SecretBox) -> bool | None:
    """Whether the box opens the mirrors' sealed secrets (credentials and proxy passwords), as the
    first one found tells; None when there is none to try."""
    for _, table, *_ in _TABLES:
        statement = select(table.password_sealed, table.username_sealed, table.proxy_passwords_sealed)
        for password, username, proxies in db.execute(statement).all():
            for token in (password, username, *tokens(proxies).values()):
                if token:
                    return box.open(token) is not None
    return None

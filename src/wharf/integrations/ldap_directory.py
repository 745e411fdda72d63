"""Checking a password against an LDAP directory, as Quay's `AUTHENTICATION_TYPE: LDAP` does.

A login is two steps on two connections: the service account (`LDAP_ADMIN_DN`) searches for the
one entry whose `LDAP_UID_ATTR` is the username (within `LDAP_USER_RDN` under `LDAP_BASE_DN`,
narrowed by `LDAP_USER_FILTER`), then a second connection binds as that entry's DN with the
password. The password is never stored, logged or compared here: the directory decides.

python-ldap wraps OpenLDAP's own client library (the implementation the directories are tested
against, kept up by the same project); its calls block, so callers run them on a thread. It is an
optional dependency (`pip install 'wharf[ldap]'`) imported on the first login, because it needs
libldap to build and most registries never use it.

Failures to reach or use the directory raise `DirectoryUnavailable`: a login then fails closed,
with that message, instead of falling back to any other check.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wharf.config import Settings
from wharf.core.errors import Unavailable
from wharf.core.federated_logins import ExternalUser

if TYPE_CHECKING:
    from ldap.ldapobject import LDAPObject  # type: ignore[import-untyped]


_TLS_FAILED = (
    "the directory's certificate is not signed by the CA in LDAP_CA_FILE (or, without it, by one "
    "the system trusts), or does not name the host in LDAP_URI"
)


class DirectoryUnavailable(Unavailable):
    """The directory could not be reached or refused the service account; `str(e)` says which."""


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    """Quay's LDAP_* keys, as values (see config.Settings for each one's meaning)."""

    uri: str
    base_dn: tuple[str, ...]
    admin_dn: str | None
    admin_password: str | None
    user_rdn: tuple[str, ...] = ()
    uid_attr: str = "uid"
    email_attr: str = "mail"
    user_filter: str | None = None
    superuser_filter: str | None = None
    restricted_user_filter: str | None = None
    start_tls: bool = False
    allow_insecure_fallback: bool = False
    timeout_s: float = 10.0
    network_timeout_s: float = 10.0
    ca_file: str | None = None
    memberof_attr: str = "memberOf"

    @property
    def search_base(self) -> str:
        return ",".join((*self.user_rdn, *self.base_dn))

    def group_dn(self, group_dn: str) -> str:
        """A group's full DN. Quay takes `group_dn` relative to LDAP_BASE_DN
        (`cn=devs,ou=groups`); a DN that already ends with the base is taken as it is."""
        base = ",".join(self.base_dn)
        if not base or _dn_key(group_dn).endswith(_dn_key(base)):
            return group_dn
        return f"{group_dn},{base}"


class GroupNotFound(Exception):
    """The group DN names no entry, and no user names it either; `str(e)` says which DN."""


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A person in a directory group, as team synchronization links them."""

    username: str
    dn: str
    email: str | None


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A directory entry that may sign in."""

    username: str
    """The entry's `uid_attr` value, as the directory spells it."""
    dn: str
    email: str | None
    superuser: bool
    restricted: bool


def _ldap() -> Any:
    try:
        import ldap  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the installation
        raise DirectoryUnavailable(
            "AUTHENTICATION_TYPE is LDAP but python-ldap is not installed: pip install 'wharf[ldap]'"
        ) from None
    return ldap


def escape(value: str) -> str:
    """`value` as a literal in a search filter (RFC 4515 section 3): a username such as `*` or
    `x)(uid=*` then matches only an entry with exactly that name."""
    out = []
    for ch in value:
        if ch in "*()\\\x00":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _and(*filters: str | None) -> str:
    parts = [f if f.startswith("(") else f"({f})" for f in filters if f]
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


class Directory:
    """One configured directory. Every method blocks: call it on a thread."""

    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config

    @contextmanager
    def _connection(self, dn: str | None, password: str | None) -> Iterator[LDAPObject]:
        """A connection bound as `dn` (the service account when None); unbound on exit. Raises
        `ldap.INVALID_CREDENTIALS` for a wrong password, DirectoryUnavailable when unreachable."""
        ldap = _ldap()
        c = self.config
        try:
            conn = ldap.initialize(c.uri, bytes_mode=False)
        except ldap.LDAPError as e:
            raise DirectoryUnavailable(f"LDAP_URI {c.uri!r} is not usable: {_message(e)}") from None
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, c.network_timeout_s)
        conn.set_option(ldap.OPT_TIMEOUT, c.timeout_s)
        if c.ca_file:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, c.ca_file)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        try:
            if c.start_tls and c.uri.startswith("ldap://"):
                self._start_tls(conn)
            conn.simple_bind_s(dn or c.admin_dn or "", password if dn else (c.admin_password or ""))
            yield conn
        except ldap.INVALID_CREDENTIALS:
            if dn is None:
                raise DirectoryUnavailable(
                    "the directory refused LDAP_ADMIN_DN's credentials: "
                    "check LDAP_ADMIN_DN and LDAP_ADMIN_PASSWD"
                ) from None
            raise
        except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR) as e:
            if c.uri.startswith("ldaps://") and self._reachable():
                raise DirectoryUnavailable(f"TLS with {c.uri} failed: {_TLS_FAILED}") from None
            raise DirectoryUnavailable(f"the directory at {c.uri} cannot be reached: {_message(e)}") from None
        finally:
            with suppress(ldap.LDAPError):
                conn.unbind_s()

    def _start_tls(self, conn: LDAPObject) -> None:
        ldap = _ldap()
        uri = self.config.uri
        try:
            conn.start_tls_s()
        except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR, ldap.TIMEOUT) as e:
            if not self._reachable():
                raise DirectoryUnavailable(
                    f"the directory at {uri} cannot be reached: {_message(e)}"
                ) from None
            # The directory agreed to StartTLS and the handshake failed. Never a fallback: the
            # connection is gone, and a certificate that does not verify may be an impostor's,
            # who would be handed the password in the clear.
            raise DirectoryUnavailable(f"StartTLS with {uri} failed: {_TLS_FAILED}") from None
        except ldap.LDAPError as e:
            # The directory offers no TLS (it refused the StartTLS request).
            if not self.config.allow_insecure_fallback:
                raise DirectoryUnavailable(
                    f"StartTLS with {uri} failed ({_message(e)}): the directory offers no TLS; "
                    "configure TLS there, or set LDAP_ALLOW_INSECURE_FALLBACK to go on in the clear"
                ) from None

    def _reachable(self) -> bool:
        """Whether the directory's port takes a TCP connection: told apart from an unreachable
        directory, a failed TLS handshake is a certificate problem (libldap does not say which)."""
        parts = urlsplit(self.config.uri)
        port = parts.port or (636 if parts.scheme == "ldaps" else 389)
        try:
            with socket.create_connection(
                (parts.hostname or "localhost", port), self.config.network_timeout_s
            ):
                return True
        except OSError:
            return False

    PAGE_SIZE = 1000
    """Entries per page of a search (the simple paged results control, RFC 2696, as Quay asks):
    a group's members come in pages, so that a group larger than the directory's size limit
    (Active Directory's MaxPageSize, 1000) is read whole."""

    def _search(self, conn: LDAPObject, flt: str, attrs: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        ldap = _ldap()
        from ldap.controls import SimplePagedResultsControl  # type: ignore[import-untyped]

        # Not critical: a directory without paging answers the plain search.
        page = SimplePagedResultsControl(criticality=False, size=self.PAGE_SIZE, cookie="")
        out: list[tuple[str, dict[str, Any]]] = []
        try:
            while True:
                msgid = conn.search_ext(
                    self.config.search_base, ldap.SCOPE_SUBTREE, flt, list(attrs), serverctrls=[page]
                )
                _, found, _, controls = conn.result3(msgid)
                out.extend((dn, entry) for dn, entry in found if dn)  # not search continuations
                cookie = next(
                    (c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType),
                    None,
                )
                if not cookie:
                    return out
                page.cookie = cookie
        except ldap.NO_SUCH_OBJECT:
            return []
        except ldap.LDAPError as e:
            raise DirectoryUnavailable(f"searching the directory failed: {_message(e)}") from None

    def lookup(self, username: str) -> DirectoryUser | None:
        """The entry that may sign in as `username`, or None (absent, ambiguous or filtered out)."""
        with self._connection(None, None) as conn:
            return self._user(conn, username)

    def _user(self, conn: LDAPObject, username: str) -> DirectoryUser | None:
        c = self.config
        name = f"({c.uid_attr}={escape(username)})"
        found = self._search(conn, _and(name, c.user_filter), [c.uid_attr, c.email_attr])
        if len(found) != 1:
            return None  # two entries with one name: refuse rather than guess
        dn, entry = found[0]
        return DirectoryUser(
            username=_first(entry, c.uid_attr) or username,
            dn=dn,
            email=_first(entry, c.email_attr),
            superuser=bool(c.superuser_filter)
            and bool(self._search(conn, _and(name, c.superuser_filter), ["1.1"])),
            restricted=bool(c.restricted_user_filter)
            and bool(self._search(conn, _and(name, c.restricted_user_filter), ["1.1"])),
        )

    def authenticate(self, username: str, password: str) -> DirectoryUser | None:
        """The entry `username` names, when `password` is its password; else None."""
        if not password or not username:
            # An empty password is an unauthenticated bind (RFC 4513 5.1.2), which many
            # directories accept: it proves nothing.
            return None
        user = self.lookup(username)
        if user is None:
            return None
        ldap = _ldap()
        try:
            with self._connection(user.dn, password):
                return user
        except ldap.INVALID_CREDENTIALS:
            return None
        except ldap.LDAPError as e:
            raise DirectoryUnavailable(f"the directory failed the login: {_message(e)}") from None


class _Groups:
    """Reading groups, for team synchronization, and looking up many users at once."""

    # Member DNs a group lists are read one entry at a time; at most this many per group, so
    # that a mistyped DN of a huge group cannot hold the job forever.
    MAX_MEMBERS = 10_000

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def members(self, group_dn: str) -> list[GroupMember]:
        """The people of the group who may sign in (LDAP_USER_FILTER): the entries the group's
        `member` / `uniqueMember` values name (groupOfNames, groupOfUniqueNames) and the entries
        whose LDAP_MEMBEROF_ATTR names the group (Active Directory, the memberof overlay), both
        as Quay reads them. Raises GroupNotFound, DirectoryUnavailable."""
        d = self.directory
        c = d.config
        full = c.group_dn(group_dn)
        with d._connection(None, None) as conn:
            listed = self._listed(conn, full)
            flt = _and(f"({c.memberof_attr}={escape(full)})", c.user_filter)
            found = {
                _dn_key(dn): self._member(dn, entry)
                for dn, entry in d._search(conn, flt, [c.uid_attr, c.email_attr])
            }
            if listed is None and not found:
                raise GroupNotFound(f"the directory has no group {full!r}")
            for dn in (listed or [])[: self.MAX_MEMBERS]:
                if _dn_key(dn) in found or not _dn_key(dn).endswith(_dn_key(c.search_base)):
                    continue
                member = self._read(conn, dn)
                if member is not None:
                    found[_dn_key(dn)] = member
        return sorted((m for m in found.values() if m is not None), key=lambda m: m.username)

    def _listed(self, conn: LDAPObject, full: str) -> list[str] | None:
        """The DNs the group entry lists; None when there is no such entry."""
        ldap = _ldap()
        try:
            found = conn.search_s(full, ldap.SCOPE_BASE, "(objectClass=*)", ["member", "uniqueMember"])
        except ldap.NO_SUCH_OBJECT:
            return None
        except ldap.LDAPError as e:
            raise DirectoryUnavailable(f"reading group {full!r} failed: {_message(e)}") from None
        out: list[str] = []
        for _, entry in found[:1]:
            for attr in ("member", "uniqueMember"):
                for v in _values(entry, attr):
                    # uniqueMember may carry an optional `#'0101'B` UID suffix (RFC 4519).
                    out.append(v.split("#", 1)[0] if attr == "uniqueMember" else v)
        return out

    def _read(self, conn: LDAPObject, dn: str) -> GroupMember | None:
        ldap = _ldap()
        c = self.directory.config
        flt = _and(f"({c.uid_attr}=*)", c.user_filter)
        try:
            found = conn.search_s(dn, ldap.SCOPE_BASE, flt, [c.uid_attr, c.email_attr])
        except ldap.NO_SUCH_OBJECT:
            return None  # a group may list an entry removed since
        except ldap.LDAPError as e:
            raise DirectoryUnavailable(f"reading {dn!r} failed: {_message(e)}") from None
        return self._member(found[0][0], found[0][1]) if found else None

    def _member(self, dn: str, entry: dict[str, Any]) -> GroupMember | None:
        c = self.directory.config
        name = _first(entry, c.uid_attr)
        return GroupMember(name, dn, _first(entry, c.email_attr)) if name else None

    def present(self, usernames: Sequence[str]) -> set[str]:
        """Those of `usernames` whose entry may still sign in (present, and matching
        LDAP_USER_FILTER), asked in batches of a few dozen names per search."""
        d = self.directory
        c = d.config
        out: set[str] = set()
        with d._connection(None, None) as conn:
            for start in range(0, len(usernames), 50):
                batch = usernames[start : start + 50]
                names = "".join(f"({c.uid_attr}={escape(u)})" for u in batch)
                flt = _and(f"(|{names})", c.user_filter)
                for _, entry in d._search(conn, flt, [c.uid_attr]):
                    out.update(_values(entry, c.uid_attr))
        # Directory names compare without case (the uid attribute's matching rule).
        wanted = {u.lower(): u for u in usernames}
        return {wanted[n.lower()] for n in out if n.lower() in wanted}


def groups_of(directory: Directory) -> _Groups:
    return _Groups(directory)


def _values(entry: dict[str, Any], attr: str) -> list[str]:
    # python-ldap gives attribute names as the server spells them.
    for key, values in entry.items():
        if key.lower() == attr.lower():
            return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]
    return []


def _dn_key(dn: str) -> str:
    """A DN compared loosely: case and the spaces after commas do not matter."""
    return ",".join(part.strip() for part in dn.lower().split(","))


def _first(entry: dict[str, Any], attr: str) -> str | None:
    values = entry.get(attr) or []
    if not values:
        return None
    v = values[0]
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _message(e: Exception) -> str:
    info = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
    return str(info.get("desc") or info.get("info") or e)


def config_of(settings: Settings) -> DirectoryConfig:
    """The directory Quay's LDAP_* keys describe."""
    return DirectoryConfig(
        uri=settings.LDAP_URI,
        base_dn=tuple(settings.LDAP_BASE_DN),
        admin_dn=settings.LDAP_ADMIN_DN,
        admin_password=settings.LDAP_ADMIN_PASSWD,
        user_rdn=tuple(settings.LDAP_USER_RDN),
        uid_attr=settings.LDAP_UID_ATTR,
        email_attr=settings.LDAP_EMAIL_ATTR,
        user_filter=settings.LDAP_USER_FILTER,
        superuser_filter=settings.LDAP_SUPERUSER_FILTER,
        restricted_user_filter=settings.LDAP_RESTRICTED_USER_FILTER,
        start_tls=settings.LDAP_START_TLS,
        allow_insecure_fallback=settings.LDAP_ALLOW_INSECURE_FALLBACK,
        timeout_s=settings.LDAP_TIMEOUT,
        network_timeout_s=settings.LDAP_NETWORK_TIMEOUT,
        ca_file=settings.LDAP_CA_FILE,
        memberof_attr=settings.LDAP_MEMBEROF_ATTR,
    )


class LdapLogins:
    """The directory as sign-ins ask it (auth/context.PasswordDirectory), off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.directory = Directory(config_of(settings))
        self.settings = settings

    async def authenticate(self, username: str, password: str) -> ExternalUser | None:
        user = await asyncio.to_thread(self.directory.authenticate, username, password)
        if user is None:
            return None
        return ExternalUser(user.username, user.email, user.superuser, self._restricted(user))

    def _restricted(self, user: DirectoryUser) -> bool:
        """As Quay: with FEATURE_RESTRICTED_USERS, the entries LDAP_RESTRICTED_USER_FILTER
        matches, or every entry without one, except RESTRICTED_USERS_WHITELIST's."""
        s = self.settings
        if not s.FEATURE_RESTRICTED_USERS or user.username in s.RESTRICTED_USERS_WHITELIST:
            return False
        return user.restricted if s.LDAP_RESTRICTED_USER_FILTER else True

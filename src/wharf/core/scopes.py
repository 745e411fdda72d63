"""OAuth scopes, as Quay names them. A token's scopes cap what its user may do through it."""

from __future__ import annotations

from typing import NamedTuple

REPO_READ = "repo:read"
REPO_WRITE = "repo:write"
REPO_ADMIN = "repo:admin"
REPO_CREATE = "repo:create"
USER_READ = "user:read"
USER_ADMIN = "user:admin"
ORG_ADMIN = "org:admin"
SUPER_USER = "super:user"

ALL = frozenset(
    {REPO_READ, REPO_WRITE, REPO_ADMIN, REPO_CREATE, USER_READ, USER_ADMIN, ORG_ADMIN, SUPER_USER}
)


class Described(NamedTuple):
    title: str
    """A few words, as Quay's scope list names the scope."""
    detail: str
    """What an application holding the scope may do, for the consent page."""
    dangerous: bool = False
    """Only for an application the user trusts completely."""


# In the order a consent page lists them.
DESCRIPTIONS: dict[str, Described] = {
    REPO_READ: Described(
        "View all visible repositories",
        "See and pull every repository you can see.",
    ),
    REPO_WRITE: Described(
        "Read/write to any accessible repositories",
        "Push to and pull from every repository you may write to.",
    ),
    REPO_ADMIN: Described(
        "Administer repositories",
        "Change the settings, permissions and tags of every repository you administer, and delete them.",
    ),
    REPO_CREATE: Described(
        "Create repositories",
        "Create repositories in every namespace where you may create them.",
    ),
    USER_READ: Described(
        "View user information",
        "Read your account's information, such as your username and e-mail address.",
    ),
    USER_ADMIN: Described(
        "Administer user",
        "Administer your account, including creating robot accounts and giving them access to your "
        "repositories.",
        dangerous=True,
    ),
    ORG_ADMIN: Described(
        "Administer organization",
        "Administer your organizations: their robot accounts, teams, members and settings.",
        dangerous=True,
    ),
    SUPER_USER: Described(
        "Super user",
        "Use your superuser rights over this Wharf installation: its users, organizations and settings.",
        dangerous=True,
    ),
}

assert DESCRIPTIONS.keys() == ALL, "every scope needs a description"

# A scope grants the ones it implies as well.
_IMPLIED = {
    REPO_ADMIN: {REPO_WRITE, REPO_READ},
    REPO_WRITE: {REPO_READ},
    USER_ADMIN: {USER_READ},
}


class ScopeError(ValueError):
    """An unknown scope: the whole request is refused, as Quay does."""


def parse(value: str | list[str] | tuple[str, ...]) -> frozenset[str]:
    """Scopes from a space- or comma-separated string (or a list), with the ones they imply."""
    parts = (
        value.replace(",", " ").split()
        if isinstance(value, str)
        else [p for v in value for p in v.split(",")]
    )
    scopes = {p.strip() for p in parts if p.strip()}
    unknown = scopes - ALL
    if unknown:
        raise ScopeError(f"unknown scope {sorted(unknown)[0]!r}; known: {' '.join(sorted(ALL))}")
    return expand(frozenset(scopes))


def expand(scopes: frozenset[str]) -> frozenset[str]:
    out = set(scopes)
    for s in scopes:
        out |= _IMPLIED.get(s, set())
    return frozenset(out)

"""OAuth scopes, as Quay names them. A token's scopes cap what its user may do through it."""

from __future__ import annotations

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

"""The caller, as every surface sees it once credentials are checked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str  # anonymous | user | robot (later: oauth token, app token, federated robot)
    account_id: int | None = None
    name: str | None = None
    is_superuser: bool = False
    scopes: frozenset[str] | None = None
    """What an OAuth or app token allows; None for a password or session login (no cap)."""
    ip: str | None = None
    """The client's address, for the audit log (set by the surface that saw the request)."""
    origin: str | None = None
    """scheme://host the client reached, for links in events (set by the surface)."""
    readonly_superuser: bool = False
    """In GLOBAL_READONLY_SUPER_USERS: reads what a superuser reads, changes nothing of others'
    (set by permissions.with_powers)."""
    full_access: bool = False
    """A superuser with FEATURE_SUPERUSERS_FULL_ACCESS: every right on every namespace (set by
    permissions.with_powers)."""
    reading: bool = False
    """The request only reads (GET, HEAD): a read-only superuser's powers apply to it (set by the
    surface that saw the request)."""
    generation: int | None = None
    """The account's credential generation when the credentials were checked (core/revocation.py):
    tokens issued for this identity carry it."""

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


ANONYMOUS = Identity("anonymous")

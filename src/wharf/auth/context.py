"""What auth uses of the process's long-lived services, as a protocol.

`wharf.runtime.Runtime` provides all of it; auth sits below the runtime (DESIGN.md) and so names
only what it reads. The surfaces pass their runtime in unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol

from wharf.auth.passwords import PasswordLogins
from wharf.auth.tokens import TokenService
from wharf.config import Settings
from wharf.core.federated_logins import ExternalUser
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database


class OidcVerifier(Protocol):
    """ID tokens of external OpenID Connect issuers (integrations/oidc.py's Verifier)."""

    def unverified_issuer(self, token: str) -> str | None:
        """The `iss` the token claims, read without verification."""
        ...

    async def claims(self, token: str, issuer: str) -> dict[str, Any] | None:
        """The token's claims once it verifies against `issuer`, else None."""
        ...


class PasswordDirectory(Protocol):
    """Where users' passwords are checked when AUTHENTICATION_TYPE is not Database
    (integrations/ldap_directory.py's LdapLogins)."""

    async def authenticate(self, username: str, password: str) -> ExternalUser | None:
        """Who `username` is there when `password` is theirs, else None; raises
        core.errors.Unavailable when the directory cannot answer."""
        ...


class AuthRuntime(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def tokens(self) -> TokenService: ...

    @property
    def secrets(self) -> SecretBox: ...

    @property
    def passwords(self) -> PasswordLogins: ...

    @property
    def oidc(self) -> OidcVerifier: ...

    @property
    def directory(self) -> PasswordDirectory | None: ...

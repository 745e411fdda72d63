"""Per-request context of the /v2 surface: the caller's grant, its challenges and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from wharf.auth.address import client_address
from wharf.auth.tokens import Grant, TokenError
from wharf.core import audit
from wharf.core.errors import DomainError, TokenRevoked
from wharf.registry.errors import UNAUTHORIZED, RegistryError, from_domain
from wharf.runtime import Runtime, registry_audience


def service_name(rt: Runtime) -> str:
    """The `service` of challenges: the registry tokens' audience, fixed by configuration."""
    return registry_audience(rt.settings)


def challenge(rt: Runtime, request: Request, scope: str | None = None, error: str | None = None) -> str:
    # The realm is where clients send credentials: from settings, never from the Host header.
    value = f'Bearer realm="{rt.settings.public_origin}/v2/auth",service="{service_name(rt)}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value


def revoked(rt: Runtime, request: Request) -> RegistryError:
    """A token that a change since its issue revoked: 401, and the challenge that sends the client
    for a new one."""
    return RegistryError(
        UNAUTHORIZED,
        "the bearer token was revoked; request a new one",
        headers={"WWW-Authenticate": challenge(rt, request, error="invalid_token")},
    )


@dataclass(frozen=True, slots=True)
class Call:
    rt: Runtime
    request: Request
    grant: Grant | None

    @property
    def actor(self) -> audit.Actor:
        ident = self.grant.identity if self.grant else None
        account_id, ip = self.performer
        build = self.grant.build if self.grant else None
        return audit.Actor(
            account_id=account_id,
            name=ident.name if ident and account_id is not None else None,
            ip=ip,
            kind="trigger" if self._for_trigger else ident.kind if ident else "anonymous",
            origin=self.rt.settings.public_origin,
            details=build,
        )

    @property
    def details(self) -> dict[str, Any]:
        """What a buffered entry carries of the caller besides its performer (a build's token:
        the build)."""
        return dict(self.grant.build) if self.grant and self.grant.build else {}

    @property
    def _for_trigger(self) -> bool:
        """A trigger build's token: it acts with the rights of the admin who set the trigger up,
        but for the trigger, so no account is named as the performer (Quay's builds push with a
        build token, its entries naming no user)."""
        return bool(self.grant and self.grant.build and self.grant.build.get("trigger_id"))

    @property
    def client_address(self) -> str | None:
        return client_address(self.request, self.rt.settings.TRUSTED_PROXIES)

    @property
    def performer(self) -> tuple[int | None, str | None]:
        """(account id, client IP) for a buffered log entry: what `actor` holds, without its cost."""
        ident = self.grant.identity if self.grant else None
        if ident is None or self._for_trigger:
            return (None, self.client_address)
        return (ident.account_id, self.client_address)

    def revoked(self) -> RegistryError:
        return revoked(self.rt, self.request)

    def failed(self, e: DomainError) -> RegistryError:
        """The /v2 error for a domain error: `from_domain`, and the 401 with its challenge when
        the token was revoked (TokenRevoked)."""
        return self.revoked() if isinstance(e, TokenRevoked) else from_domain(e)

    def require(self, kind: str, name: str, *actions: str) -> None:
        """Pass when the token grants any of `actions` on the resource.

        Otherwise 401 UNAUTHORIZED with a challenge naming the scope, whoever the caller is, as
        Quay and distribution answer: a client whose token simply did not ask for this access
        (pubtools-quay pulls, then pushes with the same token) fetches a new one and retries; a
        caller who may not do it gets a down-scoped token and the same 401 again. A fresh token
        could not help only where the refusal is not about the caller (read-only registry or
        repository, immutable tag): those stay 403 DENIED.
        """
        if self.grant is not None and any(self.grant.allows(kind, name, a) for a in actions):
            return
        # A write asks for pull too, as docker and distribution do, so that one token serves the
        # reads around the write as well.
        wanted = "pull" if "pull" in actions else "pull,push" if "push" in actions else actions[0]
        scope = f"{kind}:{name}:{wanted}"
        raise RegistryError(
            UNAUTHORIZED,
            "access to the requested resource is not authorized",
            detail=[{"Type": kind, "Name": name, "Action": a} for a in actions],
            headers={
                "WWW-Authenticate": challenge(
                    self.rt, self.request, scope, "insufficient_scope" if self.grant else None
                )
            },
        )


def authenticate(rt: Runtime, request: Request) -> Grant | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return rt.tokens.verify(token.strip())
    except TokenError:
        raise RegistryError(
            UNAUTHORIZED,
            "the bearer token is invalid or expired; request a new one",
            headers={"WWW-Authenticate": challenge(rt, request, error="invalid_token")},
        ) from None

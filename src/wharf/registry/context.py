"""Per-request context of the /v2 surface: the caller's grant and the repository addressed."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from wharf.auth import tokens
from wharf.auth.tokens import Grant, TokenError
from wharf.core import audit
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.registry.errors import DENIED, UNAUTHORIZED, RegistryError
from wharf.runtime import Runtime


def service_name(rt: Runtime, request: Request) -> str:
    return rt.settings.SERVER_HOSTNAME or request.headers.get("host") or "localhost"


def challenge(rt: Runtime, request: Request, scope: str | None = None, error: str | None = None) -> str:
    base = f"{rt.settings.PREFERRED_URL_SCHEME}://{service_name(rt, request)}"
    value = f'Bearer realm="{base}/v2/auth",service="{service_name(rt, request)}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value


@dataclass(frozen=True, slots=True)
class Call:
    rt: Runtime
    request: Request
    grant: Grant | None

    @property
    def actor(self) -> audit.Actor:
        ident = self.grant.identity if self.grant else None
        account_id, ip = self.performer
        return audit.Actor(
            account_id=account_id,
            name=ident.name if ident else None,
            ip=ip,
            kind=ident.kind if ident else "anonymous",
            origin=f"{self.rt.settings.PREFERRED_URL_SCHEME}://{service_name(self.rt, self.request)}",
        )

    @property
    def performer(self) -> tuple[int | None, str | None]:
        """(account id, client IP) for a buffered log entry: what `actor` holds, without its cost."""
        client = self.request.client
        ident = self.grant.identity if self.grant else None
        return (ident.account_id if ident else None, client.host if client else None)

    def check_current(self, db: Db) -> None:
        """In the transaction the request runs anyway: refuse a token that a change since its issue
        revoked (its account disabled or deleted, its robot token regenerated, a role or membership
        changed). Call it in every transaction that acts on what the token grants."""
        if self.grant is not None and not tokens.is_current(db, self.grant):
            raise self.revoked()

    def repository(self, db: Db, namespace: str, name: str) -> RepositoryRecord | None:
        """The repository, read in the same statement as the token's revocation check."""
        repo, current = tokens.current_repository(db, self.grant, namespace, name)
        if not current:
            raise self.revoked()
        return repo

    def revoked(self) -> RegistryError:
        return RegistryError(
            UNAUTHORIZED,
            "the bearer token was revoked; request a new one",
            headers={"WWW-Authenticate": challenge(self.rt, self.request, error="invalid_token")},
        )

    def require(self, kind: str, name: str, *actions: str) -> None:
        """Pass when the token grants any of `actions` on the resource.

        Otherwise: 401 UNAUTHORIZED when the caller has not logged in (no token, or an anonymous
        one), 403 DENIED when a logged-in caller's token lacks the access. Both carry a challenge
        naming the scope, so a client whose token simply did not ask for it (oras-py keeps one
        token and renews it only on 403) fetches a new one, and a caller who may not do it gets
        the familiar "denied".
        """
        if self.grant is not None and any(self.grant.allows(kind, name, a) for a in actions):
            return
        # A write asks for pull too, as docker and distribution do, so that one token serves the
        # reads around the write as well.
        wanted = "pull" if "pull" in actions else "pull,push" if "push" in actions else actions[0]
        scope = f"{kind}:{name}:{wanted}"
        logged_in = self.grant is not None and not self.grant.identity.is_anonymous
        raise RegistryError(
            DENIED if logged_in else UNAUTHORIZED,
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

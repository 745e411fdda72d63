"""Who is calling /api/v1: an OAuth bearer token (the browser session comes with the web UI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from wharf.api.errors import unauthorized
from wharf.auth.identity import ANONYMOUS, Identity
from wharf.core import audit, tokens
from wharf.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


Rt = Annotated[Runtime, Depends(runtime)]


async def caller(request: Request, rt: Rt) -> Identity:
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("only Authorization: Bearer <OAuth token> is accepted on /api/v1")
    owner = await rt.db.read(tokens.resolve, value.strip())
    if owner is None:
        raise unauthorized("the token is invalid, expired or revoked")
    account = owner.account
    superuser = account.is_superuser or account.name in rt.settings.SUPER_USERS
    return Identity("oauthtoken", account.id, account.name, superuser, scopes=owner.scopes)


Caller = Annotated[Identity, Depends(caller)]


async def signed_in(who: Caller) -> Identity:
    if who.is_anonymous:
        raise unauthorized()
    return who


User = Annotated[Identity, Depends(signed_in)]


def actor(who: Identity) -> audit.Actor:
    """The audit log's view of the caller."""
    return audit.Actor(who.account_id, who.name, kind=who.kind)

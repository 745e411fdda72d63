"""What GitLab's and Bitbucket's connected triggers share: the sealed OAuth `state` that carries
the repository being set up (their callback path is fixed, so it cannot), and the expiring grant
the trigger holds, renewed before a call when it has run out.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from wharf.auth.identity import Identity
from wharf.core import build_triggers
from wharf.core.build_triggers import TriggerRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotAllowed
from wharf.core.repositories import RepositoryRecord
from wharf.integrations.oauth_grant import Grant
from wharf.runtime import Runtime
from wharf.services.github_triggers import STATE_LIFETIME_MS


class Disconnected(InvalidInput):
    """The service no longer honours the trigger's grant (the user revoked Wharf's access, or the
    application was replaced): the trigger must be connected again."""


def seal_state(rt: Runtime, service: str, who: Identity, repo: RepositoryRecord) -> str:
    """The state of an authorization: the service, the user and the repository, sealed and
    short-lived, so a code brought back by anyone else, or for another repository, is refused."""
    value = {"s": service, "a": who.account_id, "r": repo.full_name, "e": now_ms() + STATE_LIFETIME_MS}
    return rt.secrets.seal(json.dumps(value))


def _refused(name: str) -> NotAllowed:
    return NotAllowed(f"this {name} authorization was not started here, or is too old: start again")


def _opened(rt: Runtime, service: str, name: str, state: str) -> dict[str, Any]:
    opened = rt.secrets.open(state) if state else None
    try:
        value = json.loads(opened) if opened else None
    except ValueError:
        value = None
    if (
        not isinstance(value, dict)
        or value.get("s") != service
        or not isinstance(value.get("r"), str)
        or not isinstance(value.get("e"), int)
        or value["e"] < now_ms()
    ):
        raise _refused(name)
    return value


def state_repository(rt: Runtime, service: str, name: str, state: str) -> str:
    """The repository a callback's state was made for; refused when the state is not ours, not
    the service's, or too old."""
    return str(_opened(rt, service, name, state)["r"])


def check_state(
    rt: Runtime, service: str, name: str, state: str, who: Identity, repo: RepositoryRecord
) -> None:
    """The state was made for this user and this repository."""
    value = _opened(rt, service, name, state)
    if value.get("a") != who.account_id or value["r"] != repo.full_name:
        raise _refused(name)


def grant_of(rt: Runtime, trigger: TriggerRecord, service: str, name: str) -> Grant:
    opened = rt.secrets.open(trigger.auth_token_sealed) if trigger.auth_token_sealed else None
    grant = Grant.loads(opened) if opened else None
    if trigger.service != service or grant is None:
        raise InvalidInput(f"this trigger is not connected to {name}")
    return grant


async def live_grant(
    rt: Runtime, trigger: TriggerRecord, service: str, name: str, renew: Callable[[Grant], Awaitable[Grant]]
) -> Grant:
    """The trigger's grant, renewed with `renew` (and kept) when its access token has run out."""
    grant = grant_of(rt, trigger, service, name)
    if grant.expired(now_ms()):
        # The record may be older than a renewal made since (activation asks twice): a spent
        # refresh token would be refused, so the stored grant is read again first.
        fresh = await rt.db.read(build_triggers.get, trigger.uuid)
        grant = grant_of(rt, fresh, service, name) if fresh is not None else grant
    if grant.expired(now_ms()):
        try:
            renewed = await renew(grant)
        except Disconnected:
            # Another request may have spent the same refresh token a moment ago: its grant is
            # then stored, and good.
            again = await rt.db.read(build_triggers.get, trigger.uuid)
            stored = grant_of(rt, again, service, name) if again is not None else grant
            if stored.refresh_token == grant.refresh_token or stored.expired(now_ms()):
                raise
            return stored
        await rt.db.write(build_triggers.renew_auth_token, trigger, rt.secrets.seal(renewed.dumps()))
        return renewed
    return grant


def timestamp(value: Any) -> int:
    """Seconds since the epoch of an ISO 8601 time (a source's `last_updated`); 0 if unreadable."""
    if not isinstance(value, str):
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0

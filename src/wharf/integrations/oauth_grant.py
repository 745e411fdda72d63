"""An OAuth 2 grant as GitLab's and Bitbucket's token endpoints give it: an access token that
expires (two hours at both), and the refresh token that renews it. Kept sealed on the trigger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REFRESH_MARGIN_MS = 60_000
"""A token this close to its end is refreshed first: a call is not started with one about to die."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token endpoint gives: the access token, the refresh token, and when the access
    token ends (ms since the epoch; None when the service did not say)."""

    access_token: str
    refresh_token: str | None
    expires_ms: int | None

    def dumps(self) -> str:
        return json.dumps({"a": self.access_token, "r": self.refresh_token, "e": self.expires_ms})

    @classmethod
    def loads(cls, text: str) -> Grant | None:
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("a"), str):
            return None
        refresh, expires = value.get("r"), value.get("e")
        return cls(
            value["a"],
            refresh if isinstance(refresh, str) else None,
            expires if isinstance(expires, int) else None,
        )

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and self.expires_ms - REFRESH_MARGIN_MS <= now_ms

    @classmethod
    def of(cls, answer: dict[str, Any], now_ms: int) -> Grant:
        """The grant of a token endpoint's answer (its `access_token` checked by the caller)."""
        refresh, lifetime = answer.get("refresh_token"), answer.get("expires_in")
        return cls(
            str(answer["access_token"]),
            refresh if isinstance(refresh, str) else None,
            now_ms + lifetime * 1000 if isinstance(lifetime, int) else None,
        )

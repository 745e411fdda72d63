"""Quay's short durations: `30s`, `15m`, `12h`, `7d`, `2w` (tag expiration options and labels)."""

from __future__ import annotations

import re

from wharf.core.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")


def parse_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if match is None:
        raise InvalidInput(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def check_option(seconds: int, options: list[str]) -> None:
    """A namespace's time-machine window must be one of the configured TAG_EXPIRATION_OPTIONS."""
    allowed = sorted({parse_seconds(o) for o in options})
    if seconds not in allowed:
        raise InvalidInput(f"tag_expiration_s must be one of {allowed} (TAG_EXPIRATION_OPTIONS)")

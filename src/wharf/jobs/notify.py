"""Notification jobs: delivering one event to one notification, and the image-expiry scan."""

from __future__ import annotations

from typing import Any

from wharf.runtime import Runtime


async def deliver(rt: Runtime, body: dict[str, Any]) -> None:
    raise NotImplementedError


async def announce_expiring_tags(rt: Runtime, _body: dict[str, Any]) -> None:
    raise NotImplementedError

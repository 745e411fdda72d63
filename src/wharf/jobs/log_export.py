"""Usage-log jobs: exports (exportlogs) and rotation (ACTION_LOG_ROTATION_THRESHOLD)."""

from __future__ import annotations

from typing import Any

from wharf.runtime import Runtime


async def export_logs(rt: Runtime, body: dict[str, Any]) -> None:
    raise NotImplementedError


async def rotate_logs(rt: Runtime, _body: dict[str, Any]) -> None:
    raise NotImplementedError

"""Quay's health checks: /health/instance, /health/endtoend and /health/warning.

Each answers `{"data": {"services": {name: ok}, "notes": [...], "is_testing": false},
"status_code": 200}`, with 503 (and the same body) when a service counted in the verdict failed,
as Quay's load balancers and monitoring expect. `/health` and `/health/ready` keep Wharf's own shape.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

from wharf.runtime import Runtime

DISK_FREE_MIN = 0.01
"""/health/instance fails when less than this share of the data volume is free (Quay's default)."""
DISK_FREE_WARNING = 0.1
"""/health/warning fails when less than this share is free."""

Check = Callable[[Runtime], Awaitable[bool]]


async def database(rt: Runtime) -> bool:
    with contextlib.suppress(Exception):
        await rt.db.read(lambda db: db.execute(text("SELECT 1")))
        return True
    return False


async def storage(rt: Runtime) -> bool:
    if rt.settings.REGISTRY_STATE == "readonly":
        return True  # as Quay: nothing is written, so storage is not checked
    with contextlib.suppress(Exception):
        return await rt.store.healthy()
    return False


def _free_share(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return usage.free / usage.total if usage.total else 1.0


def _disk(threshold: float) -> Check:
    async def check(rt: Runtime) -> bool:
        data_dir = rt.settings.DATA_DIR
        paths = [data_dir if data_dir.exists() else Path.cwd(), Path(tempfile.gettempdir())]
        with contextlib.suppress(OSError):
            return all(_free_share(p) >= threshold for p in paths)
        return False

    return check


async def _same_as_database(rt: Runtime) -> bool:
    # Wharf's users live in its database: authentication works when the database does.
    return await database(rt)


_GLOBAL: dict[str, Check] = {"database": database, "storage": storage, "auth": _same_as_database}
_INSTANCE: dict[str, Check] = {**_GLOBAL, "disk_space": _disk(DISK_FREE_MIN)}
_WARNING: dict[str, Check] = {"disk_space_warning": _disk(DISK_FREE_WARNING)}
KINDS: dict[str, dict[str, Check]] = {"instance": _INSTANCE, "endtoend": _GLOBAL, "warning": _WARNING}


async def report(rt: Runtime, kind: str) -> tuple[dict[str, object], int]:
    """The body and status code of /health/<kind>."""
    services = {name: await check(rt) for name, check in KINDS[kind].items()}
    status = 200 if all(services.values()) else 503
    data: dict[str, object] = {"services": services, "notes": [], "is_testing": False}
    return {"data": data, "status_code": status}, status

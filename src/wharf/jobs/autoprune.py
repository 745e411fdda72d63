"""The `autoprune` job: applies the auto-prune and immutability policies (services/retention.py).
It runs every AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES over every repository with a policy,
and soon after a policy is created or changed over that policy's namespace or repository."""

from __future__ import annotations

from typing import Any

from wharf.runtime import Runtime

QUEUE = "autoprune"


async def run(rt: Runtime, body: dict[str, Any]) -> None:
    # Imported by the first run: a server whose registry has no policy never loads the policies'
    # modules (tests/process/test_lazy_imports.py).
    from wharf.services import retention

    namespace_id, repository_id = body.get("namespace_id"), body.get("repository_id")
    await retention.apply(
        rt,
        namespace_id=int(namespace_id) if namespace_id is not None else None,
        repository_id=int(repository_id) if repository_id is not None else None,
    )

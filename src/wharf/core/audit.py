"""The audit log. Core functions call `record` in the transaction of the change they make."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert

from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import LogEntry


@dataclass(frozen=True, slots=True)
class Actor:
    """Who causes a change, as the audit log records it."""

    account_id: int | None
    name: str | None
    ip: str | None = None
    kind: str = "user"
    origin: str | None = None
    """scheme://host the caller reached: links in the events this change fires point there."""
    details: Mapping[str, Any] | None = None
    """What every entry of this actor's carries besides its own details: a build's pushes name
    the build (and its trigger) this way."""


_INSERT = insert(LogEntry)


def record(
    db: Db,
    kind: str,
    actor: Actor | None,
    *,
    namespace_id: int | None = None,
    repository_id: int | None = None,
    **metadata: Any,
) -> None:
    db.execute(
        _INSERT,
        {
            "kind": kind,
            "account_id": namespace_id,
            "performer_id": actor.account_id if actor else None,
            "repository_id": repository_id,
            "ip": actor.ip if actor else None,
            "created_ms": now_ms(),
            "metadata_json": json.dumps(
                {**actor.details, **metadata} if actor and actor.details else metadata,
                separators=(",", ":"),
                default=str,
            ),
        },
    )


class _Repository(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def namespace_id(self) -> int: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...


def record_for(db: Db, kind: str, actor: Actor | None, repo: _Repository, **metadata: Any) -> None:
    """An entry about a repository: filed under it and its namespace, with their names in the
    details (as Quay's entries carry them)."""
    record(
        db,
        kind,
        actor,
        namespace_id=repo.namespace_id,
        repository_id=repo.id,
        namespace=repo.namespace,
        repo=repo.name,
        **metadata,
    )

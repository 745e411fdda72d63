"""Quay's JSON shapes that are not only API responses: log export files carry them too, so the
API and the jobs take them from here (core), not from each other."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from wharf.core.accounts import AccountRecord
from wharf.core.logs import Entry


def avatar(name: str, email: str | None, kind: str = "user") -> dict[str, Any]:
    digest = hashlib.md5((email or name).strip().lower().encode(), usedforsecurity=False).hexdigest()
    return {"name": name, "hash": digest, "color": f"#{digest[:6]}", "kind": kind}


def date(ms: int | None) -> str | None:
    """Quay's date format: RFC 2822, UTC."""
    return format_datetime(datetime.fromtimestamp(ms / 1000, UTC)) if ms is not None else None


def log_account(account: AccountRecord) -> dict[str, Any]:
    kind = {"robot": "user", "org": "org"}.get(account.kind, "user")
    return {
        "kind": kind,
        "name": account.name,
        "is_robot": account.kind == "robot",
        "avatar": avatar(account.name, account.email, kind),
    }


def log_entry(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": entry.kind,
        "metadata": entry.metadata,
        "ip": entry.ip,
        "datetime": date(entry.created_ms),
    }
    if entry.performer is not None:
        out["performer"] = log_account(entry.performer)
    if entry.namespace is not None:
        out["namespace"] = log_account(entry.namespace)
    return out

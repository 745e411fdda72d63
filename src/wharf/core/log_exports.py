"""Usage-log exports (exportlogs): the request, its progress, the file it writes and its link.

The API creates an export and queues its job in one transaction; the job (jobs/log_export.py)
streams the entries to storage a page at a time, then sends the signed link to the callback. The
export's row carries the job from one attempt to the next: when only the callback failed, the file
is not written again.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from wharf.core import audit, logs, queue
from wharf.core._staging import published
from wharf.core.clock import now_ms
from wharf.core.errors import DomainError, InvalidInput, NotFound
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db
from wharf.db.models import LogExport
from wharf.storage.base import BlobStore

QUEUE = "log_export"
PAGE = 500
# The queue gives a job five attempts (core/queue.enqueue); the failure of the fifth is final.
MAX_ATTEMPTS = 5
STORAGE_PREFIX = "exportedlogs"
LINK_PATH = "/exportedlogs/"

QUEUED = "queued"
RUNNING = "running"
EXPORTED = "exported"
"""The file is written; the link has not reached the callback yet."""
COMPLETE = "complete"
FAILED = "failed"
EXPIRED = "expired"
"""The link ran out and the file was removed."""
FINISHED = frozenset({COMPLETE, FAILED, EXPIRED})

FILE_REMOVED = "the file of this export has been removed; export the logs again"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class ExportNotFound(NotFound):
    """No such log export."""


class LinkInvalid(NotFound):
    """This download link is not valid: it was altered, or another registry made it."""


class LinkExpired(DomainError):
    """This download link has expired; export the logs again."""


@dataclass(frozen=True, slots=True)
class LogExportRecord:
    id: int
    uuid: str
    requester_id: int
    namespace_id: int | None
    repository_id: int | None
    involving_id: int | None
    namespace_name: str
    repository_name: str | None
    start_ms: int
    end_ms: int
    callback_url: str | None
    callback_email: str | None
    origin: str
    state: str
    entries_written: int
    storage_path: str | None
    attempts: int
    error: str | None
    created_ms: int
    updated_ms: int
    finished_ms: int | None

    @property
    def scope(self) -> logs.Scope:
        return logs.Scope(
            namespace_id=self.namespace_id, repository_id=self.repository_id, involving_id=self.involving_id
        )

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


_COLUMNS = tuple(LogExport.__table__.c[f.name] for f in fields(LogExportRecord))


def check_callbacks(callback_url: str | None, callback_email: str | None) -> None:
    """Whether the callbacks are acceptable at all; the API also checks the URL's address."""
    if not callback_url and not callback_email:
        raise InvalidInput("give callback_url or callback_email: where to send the link to the export")
    if callback_url is not None and len(callback_url) > 2048:
        raise InvalidInput("callback_url is longer than 2048 characters", field="callback_url")
    if callback_email is not None and (len(callback_email) > 255 or not _EMAIL.match(callback_email)):
        raise InvalidInput(
            f"Invalid callback e-mail: {callback_email[:255]!r} is not an e-mail address",
            field="callback_email",
        )


def create(
    db: Db,
    requester_id: int,
    scope: logs.Scope,
    namespace_name: str,
    repository_name: str | None,
    start_ms: int,
    end_ms: int,
    callback_url: str | None,
    callback_email: str | None,
    origin: str,
) -> LogExportRecord:
    """Record an export and queue its job; the audit entry comes when it finishes, either way."""
    check_callbacks(callback_url, callback_email)
    now = now_ms()
    export_uuid = str(uuid.uuid4())
    db.execute(
        insert(LogExport).values(
            uuid=export_uuid,
            requester_id=requester_id,
            namespace_id=scope.namespace_id,
            repository_id=scope.repository_id,
            involving_id=scope.involving_id,
            namespace_name=namespace_name,
            repository_name=repository_name,
            start_ms=start_ms,
            end_ms=end_ms,
            callback_url=callback_url or None,
            callback_email=callback_email or None,
            origin=origin.rstrip("/"),
            state=QUEUED,
            entries_written=0,
            storage_path=None,
            attempts=0,
            error=None,
            created_ms=now,
            updated_ms=now,
            finished_ms=None,
        )
    )
    queue.enqueue(db, QUEUE, {"export_id": export_uuid})
    found = get(db, export_uuid)
    assert found is not None
    return found


def get(db: Db, export_uuid: str) -> LogExportRecord | None:
    row = db.execute(select(*_COLUMNS).where(LogExport.uuid == export_uuid)).first()
    return LogExportRecord(*row) if row else None


def _set(db: Db, export_id: int, **values: Any) -> None:
    db.execute(update(LogExport).where(LogExport.id == export_id).values(updated_ms=now_ms(), **values))


def start_attempt(db: Db, export_uuid: str) -> LogExportRecord | None:
    """Count an attempt of the job; None when the export is gone."""
    found = get(db, export_uuid)
    if found is None or found.finished:
        return found
    state = RUNNING if found.state == QUEUED else found.state
    _set(db, found.id, attempts=found.attempts + 1, state=state)
    return replace(found, attempts=found.attempts + 1, state=state)


def record_progress(db: Db, export_id: int, entries_written: int) -> None:
    _set(db, export_id, entries_written=entries_written)


def mark_exported(db: Db, export_id: int, storage_path: str, entries_written: int) -> None:
    _set(
        db, export_id, state=EXPORTED, storage_path=storage_path, entries_written=entries_written, error=None
    )


def _actor(export: LogExportRecord) -> audit.Actor:
    return audit.Actor(export.requester_id, None)


def _audit(db: Db, kind: str, export: LogExportRecord, **metadata: Any) -> None:
    if export.repository_name is not None:
        metadata["repo"] = export.repository_name
    audit.record(
        db,
        kind,
        _actor(export),
        namespace_id=export.namespace_id if export.namespace_id is not None else export.involving_id,
        repository_id=export.repository_id,
        export_id=export.uuid,
        url=export.callback_url,
        email=export.callback_email,
        **metadata,
    )


def mark_delivered(db: Db, export: LogExportRecord, entries: int, link_lifetime_ms: int) -> None:
    """The link reached the callback: done, and the file goes when the link expires."""
    _set(db, export.id, state=COMPLETE, error=None, finished_ms=now_ms())
    _audit(db, "export_logs_success", export, entries=entries)
    queue.enqueue(db, QUEUE, {"export_id": export.uuid, "expire": True}, delay_ms=link_lifetime_ms)


def record_failure(db: Db, export: LogExportRecord, error: str) -> bool:
    """Note why an attempt failed; True when it was the last one and the export has failed."""
    error = error[:2000]
    if export.attempts < MAX_ATTEMPTS:
        _set(db, export.id, error=error)
        return False
    _set(db, export.id, state=FAILED, error=error, finished_ms=now_ms())
    _audit(db, "export_logs_failure", export, error=error)
    return True


def mark_expired(db: Db, export_id: int) -> None:
    db.execute(
        update(LogExport)
        .where(LogExport.id == export_id, LogExport.state.in_([EXPORTED, COMPLETE]))
        .values(state=EXPIRED, storage_path=None, updated_ms=now_ms())
    )


def storage_path(export_uuid: str) -> str:
    return f"{STORAGE_PREFIX}/{export_uuid}.json"


async def write_file(
    database: Database,
    store: BlobStore,
    export: LogExportRecord,
    details: dict[str, Any],
    render: Callable[[logs.Entry], dict[str, Any]],
) -> int:
    """Stream the entries, newest first, into the export's file (Quay's layout); how many.

    The file appears under its final name only once complete. Memory stays at one page whatever
    the number of entries, and the row shows the count written after every page.
    """
    path = storage_path(export.uuid)
    written = 0
    async with published(store, path) as writer:
        head = f'{{"export_id": {json.dumps(export.uuid)}, "details": {json.dumps(details)}, "logs": [\n'
        await writer.write(head.encode())
        before: tuple[int, int] | None = None
        while True:
            page = await database.read(
                logs.page, export.scope, export.start_ms, export.end_ms, before=before, limit=PAGE
            )
            if page:
                await writer.write("".join(json.dumps(render(e)) + ",\n" for e in page).encode())
                written += len(page)
                await database.write(record_progress, export.id, written)
            if len(page) < PAGE:
                break
            before = (page[-1].created_ms, page[-1].id)
        # Quay closes the list with this marker, so a reader can tell a whole file from a cut one.
        await writer.write(b'{"terminator": true}]}\n')
    await database.write(mark_exported, export.id, path, written)
    return written


def link_token(secrets: SecretBox, export_uuid: str, expires_ms: int) -> str:
    return secrets.seal(json.dumps({"export": export_uuid, "expires_ms": expires_ms}))


def link(export: LogExportRecord, secrets: SecretBox, expires_ms: int) -> str:
    return f"{export.origin}{LINK_PATH}{link_token(secrets, export.uuid, expires_ms)}"


def download_path(db: Db, secrets: SecretBox, token: str) -> tuple[LogExportRecord, str]:
    """The export and its file that a download link opens."""
    opened = secrets.open(token)
    if opened is None:
        raise LinkInvalid()
    try:
        claims = json.loads(opened)
        export_uuid, expires_ms = str(claims["export"]), int(claims["expires_ms"])
    except (ValueError, KeyError, TypeError):
        raise LinkInvalid() from None
    if now_ms() >= expires_ms:
        raise LinkExpired()
    found = get(db, export_uuid)
    if found is None:
        raise ExportNotFound("the export of this link no longer exists")
    if found.storage_path is None:
        raise LinkExpired(FILE_REMOVED)
    return found, found.storage_path


def day(ms: int) -> str:
    """MM/DD/YYYY (UTC), as the API takes dates."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m/%d/%Y")


def callback_body(export: LogExportRecord, url: str | None, status: str) -> dict[str, Any]:
    """What Quay POSTs to the callback URL: `status` is success or failed, and the range's days
    are the first and the last included."""
    return {
        "export_id": export.uuid,
        "start_time": day(export.start_ms),
        "end_time": day(export.end_ms - 1),
        "namespace": export.namespace_name,
        "repository": export.repository_name,
        "exported_data_url": url,
        "status": status,
    }

"""Usage-log jobs: exports (exportlogs) and rotation (ACTION_LOG_ROTATION_THRESHOLD).

An export job writes the file once, then delivers the link; a failure raises, so the queue runs
the job again later, and the fifth failure is final (the export reads `failed` and the callback
hears so). Delivery is at least once: with both a URL and an address, a failing e-mail sends the
URL the link again on the next attempt. A second job, queued when the link is delivered, removes
the file once the link has expired.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from wharf.core import durations, log_archive, log_exports, shapes
from wharf.core.clock import now_ms
from wharf.core.log_exports import LogExportRecord
from wharf.integrations import mail, outbound
from wharf.runtime import Runtime

log = logging.getLogger("wharf.jobs.logs")


class CallbackFailed(Exception):
    """The callback URL did not take the link."""


async def export_logs(rt: Runtime, body: dict[str, Any]) -> None:
    export_uuid = str(body.get("export_id"))
    if body.get("expire"):
        await _expire(rt, export_uuid)
        return
    export = await rt.db.write(log_exports.start_attempt, export_uuid)
    if export is None or export.finished:
        return
    entries = export.entries_written
    lifetime_ms = rt.settings.LOG_EXPORT_LINK_EXPIRATION_S * 1000
    try:
        if export.state != log_exports.EXPORTED:
            entries = await log_exports.write_file(
                rt.db, rt.store, export, _details(export), shapes.log_entry
            )
        url = log_exports.link(export, rt.secrets, now_ms() + lifetime_ms)
        await _deliver(rt, export, url, "success", entries)
    except Exception as e:
        final = await rt.db.write(log_exports.record_failure, export, _describe(e))
        if final:
            await _announce_failure(rt, export)
        raise
    await rt.db.write(log_exports.mark_delivered, export, entries, lifetime_ms)


def _details(export: LogExportRecord) -> dict[str, Any]:
    return {
        "start_time": shapes.date(export.start_ms),
        "end_time": shapes.date(export.end_ms - 1),
        "namespace": export.namespace_name,
        "repository": export.repository_name,
    }


def _describe(e: Exception) -> str:
    return str(e) or type(e).__name__


async def _deliver(rt: Runtime, export: LogExportRecord, url: str | None, status: str, entries: int) -> None:
    if export.callback_url:
        payload = json.dumps(log_exports.callback_body(export, url, status)).encode()
        answer = await outbound.post(
            export.callback_url,
            rt.settings,
            payload,
            timeout_s=rt.settings.NOTIFICATION_SEND_TIMEOUT,
            blocked_hosts=rt.settings.WEBHOOK_HOSTNAME_BLACKLIST,
        )
        if not 200 <= answer.status < 300:
            raise CallbackFailed(f"the callback URL answered {answer.status}")
    if export.callback_email:
        subject, text = _email(rt, export, url, entries)
        await mail.send(rt.settings, export.callback_email, subject, text)


def _email(rt: Runtime, export: LogExportRecord, url: str | None, entries: int) -> tuple[str, str]:
    what = export.repository_name and f"{export.namespace_name}/{export.repository_name}"
    what = what or export.namespace_name
    days = f"{log_exports.day(export.start_ms)} to {log_exports.day(export.end_ms - 1)}"
    if url is None:
        return (
            f"Usage logs export of {what} failed",
            f"The export {export.uuid} of the usage logs of {what} ({days}) failed: {export.error}\n",
        )
    minutes = rt.settings.LOG_EXPORT_LINK_EXPIRATION_S // 60
    return (
        f"Usage logs of {what} are ready",
        f"The usage logs of {what} from {days} ({entries} entries) are ready to download:\n\n"
        f"{url}\n\nThe link works for {minutes} minutes. Export ID: {export.uuid}\n",
    )


async def _announce_failure(rt: Runtime, export: LogExportRecord) -> None:
    """Tell the callback the export failed for good, as Quay does; it may well be what failed."""
    failed = await rt.db.read(log_exports.get, export.uuid)
    with contextlib.suppress(Exception):
        await _deliver(rt, failed or export, None, "failed", export.entries_written)


async def _expire(rt: Runtime, export_uuid: str) -> None:
    export = await rt.db.read(log_exports.get, export_uuid)
    if export is None or export.storage_path is None:
        return
    await rt.store.delete(export.storage_path)
    await rt.db.write(log_exports.mark_expired, export.id)


async def rotate_logs(rt: Runtime, _body: dict[str, Any]) -> None:
    if not rt.settings.FEATURE_ACTION_LOG_ROTATION:
        return  # queued before the feature was turned off
    threshold_ms = durations.parse_seconds(rt.settings.ACTION_LOG_ROTATION_THRESHOLD) * 1000
    done = await log_archive.rotate(rt.db, rt.store, now_ms() - threshold_ms)
    if done.entries:
        log.info("archived %d usage-log entries in %d files", done.entries, done.files)

"""Notification jobs: delivering one event to one notification, and the image-expiry scan.

A failed delivery is recorded and queued again after NOTIFICATION_RETRY_DELAY_S, doubling each
time, until the notification has failed DISABLE_AFTER times in a row; then it is disabled until an
admin resets it. Delivery is at least once: a receiver dedupes on X-Wharf-Delivery.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import and_, insert, select

from wharf.core import accounts, authorized_emails, events, inbox, notifications, queue, tags
from wharf.core.clock import now_ms
from wharf.core.notifications import NotificationRecord
from wharf.db.engine import Db
from wharf.db.models import Notification, NotifiedTag, Repository, Tag
from wharf.integrations import notification_methods as methods
from wharf.runtime import Runtime

log = logging.getLogger("wharf.notifications")

DAY_MS = 86_400_000


async def deliver(rt: Runtime, body: dict[str, Any]) -> None:
    found = await rt.db.read(notifications.get, str(body.get("notification_uuid")))
    if found is None or found.disabled:
        return  # deleted since, or disabled: dropped, as Quay does
    event = str(body["event"])
    try:
        detail = await _send(rt, found, body)
        ok = True
    except methods.DeliveryFailed as e:
        detail, ok = str(e), False
    if not ok:
        log.warning("notification %s (%s, %s) failed: %s", found.uuid, event, found.method, detail)

    def _record(db: Db) -> None:
        failures = notifications.record_outcome(db, found.id, event, ok, detail)
        if not ok and failures < notifications.DISABLE_AFTER:
            delay_ms = rt.settings.NOTIFICATION_RETRY_DELAY_S * 1000 * 2 ** (failures - 1)
            queue.enqueue(db, notifications.QUEUE, body, delay_ms=delay_ms)

    await rt.db.write(_record)


async def _send(rt: Runtime, n: NotificationRecord, body: dict[str, Any]) -> str:
    delivery = methods.Delivery(
        notification_uuid=n.uuid,
        event=str(body["event"]),
        data=dict(body.get("event_data") or {}),
        context=dict(body.get("context") or {}),
        config=n.config,
        signing_key=rt.secrets.open(n.signing_secret) or "",
        delivery_id=str(body.get("delivery_id") or ""),
    )
    if n.method == "webhook":
        return await methods.webhook(rt.settings, delivery)
    if n.method == "slack":
        return await methods.slack(rt.settings, delivery)
    if n.method == "email":
        return await methods.email(rt.settings, delivery, await _email_address(rt, n))
    if n.method == "quay_notification":
        return await _to_inbox(rt, n, delivery)
    raise methods.retired(n.method)


async def _email_address(rt: Runtime, n: NotificationRecord) -> str:
    address = n.config.get("email")
    if n.repository_id is None:
        # A namespace notification goes to the configured address, else the namespace's own.
        if not address:
            owner = await rt.db.read(accounts.get_by_id, n.namespace_id)
            address = owner.email if owner else None
        if not address:
            raise methods.DeliveryFailed("the namespace has no e-mail address; set config.email")
        return str(address)
    if not address or not await rt.db.read(authorized_emails.is_confirmed, n.repository_id, str(address)):
        raise methods.DeliveryFailed(f"{address} has not confirmed it wants this repository's notifications")
    return str(address)


async def _to_inbox(rt: Runtime, n: NotificationRecord, d: methods.Delivery) -> str:
    def _add(db: Db) -> int:
        namespace = accounts.get_by_id(db, n.namespace_id)
        if namespace is None:
            raise methods.DeliveryFailed("the namespace no longer exists")
        try:
            targets = inbox.resolve_target(db, namespace, n.config.get("target"))
        except Exception as e:  # the target was deleted since the notification was made
            raise methods.DeliveryFailed(str(e)) from None
        inbox.add(db, targets, d.event, {**d.data, "summary": d.summary})
        return len(targets)

    count = await rt.db.write(_add)
    return f"added to {count} inbox(es)"


# Image expiry ------------------------------------------------------------------------------------


async def announce_expiring_tags(rt: Runtime, _body: dict[str, Any]) -> None:
    count = await rt.db.write(_announce, rt.settings.public_origin, now_ms())
    if count:
        log.info("queued %d image-expiry notifications", count)


def _announce(db: Db, origin: str, now: int) -> int:
    armed = db.execute(
        select(
            Notification.id,
            Notification.uuid,
            Notification.repository_id,
            Notification.event_config_json,
            Repository.name,
            Repository.full_name,
        )
        .join(Repository, Repository.id == Notification.repository_id)
        .where(
            Notification.event == "repo_image_expiry",
            Notification.number_of_failures < notifications.DISABLE_AFTER,
        )
    ).all()
    queued = 0
    for n in armed:
        days = int(json.loads(n.event_config_json or "{}").get("days") or 0)
        if days <= 0:
            continue
        expiring = db.execute(
            select(Tag.id, Tag.name)
            .outerjoin(NotifiedTag, and_(NotifiedTag.tag_id == Tag.id, NotifiedTag.notification_id == n.id))
            .where(
                Tag.repository_id == n.repository_id,
                tags.OPEN,
                Tag.expires_ms > now,
                Tag.expires_ms <= now + days * DAY_MS,
                NotifiedTag.tag_id.is_(None),
            )
            .order_by(Tag.name)
        ).all()
        if not expiring:
            continue
        db.execute(insert(NotifiedTag), [{"notification_id": n.id, "tag_id": t.id} for t in expiring])
        namespace = n.full_name.split("/", 1)[0]
        data = events.repository_data(
            origin, namespace, n.name, tags=[t.name for t in expiring], expiring_in=f"{days} days"
        )
        notifications.enqueue_delivery(db, n.uuid, "repo_image_expiry", data, None)
        queued += 1
    return queued

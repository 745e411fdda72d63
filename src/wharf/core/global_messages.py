"""Banners on every page of the UI, written by superusers (Quay's global messages)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from wharf.core import audit
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotFound
from wharf.db.engine import Db
from wharf.db.models import GlobalMessage

SEVERITIES = ("info", "warning", "error")
MEDIA_TYPES = ("text/plain", "text/markdown")
MAX_CONTENT = 4096


@dataclass(frozen=True, slots=True)
class Message:
    uuid: str
    content: str
    media_type: str
    severity: str
    created_ms: int


_ALL = select(
    GlobalMessage.uuid,
    GlobalMessage.content,
    GlobalMessage.media_type,
    GlobalMessage.severity,
    GlobalMessage.created_ms,
).order_by(GlobalMessage.created_ms, GlobalMessage.id)


def list_all(db: Db) -> list[Message]:
    return [Message(*r) for r in db.execute(_ALL)]


def create(db: Db, content: str, media_type: str, severity: str, actor: audit.Actor | None) -> Message:
    content = content.strip()
    if not content:
        raise InvalidInput("the message is empty")
    if len(content) > MAX_CONTENT:
        raise InvalidInput(f"the message is longer than {MAX_CONTENT} characters")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}")
    if media_type not in MEDIA_TYPES:
        raise InvalidInput(f"media_type must be one of {', '.join(MEDIA_TYPES)}")
    message = Message(str(uuid.uuid4()), content, media_type, severity, now_ms())
    db.execute(
        insert(GlobalMessage).values(
            uuid=message.uuid,
            content=content,
            media_type=media_type,
            severity=severity,
            created_ms=message.created_ms,
        )
    )
    audit.record(db, "create_global_message", actor, uuid=message.uuid, severity=severity)
    return message


def remove(db: Db, message_uuid: str, actor: audit.Actor | None) -> None:
    if not db.execute(delete(GlobalMessage).where(GlobalMessage.uuid == message_uuid)).rowcount:
        raise NotFound(f"no message {message_uuid[:64]!r}")
    audit.record(db, "delete_global_message", actor, uuid=message_uuid)

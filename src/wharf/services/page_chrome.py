"""What the web shows around every page: the global messages and the visitor's unread
notifications (the bell), read in one transaction before the page's own."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import global_messages, inbox
from wharf.core.global_messages import Message
from wharf.db.engine import Db
from wharf.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Chrome:
    messages: list[Message]
    unread: int


async def load(rt: Runtime, account_id: int | None) -> Chrome:
    """The messages, and the unread count of `account_id` (0 for an anonymous visitor)."""

    def read(db: Db) -> Chrome:
        unread = inbox.unread_count(db, account_id) if account_id is not None else 0
        return Chrome(global_messages.list_all(db), unread)

    return await rt.db.read(read)

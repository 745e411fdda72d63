"""What the web shows around every page: the global messages and the visitor's unread
notifications (the bell), read in one transaction before the page's own, with whether the visitor
still has to confirm their username (then the page is not shown: web/app.py sends them to it)."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.core import federated_logins, global_messages, inbox
from wharf.core.global_messages import Message
from wharf.db.engine import Db
from wharf.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Chrome:
    messages: list[Message]
    unread: int
    name_to_confirm: bool = False
    """Quay's confirm_username prompt is pending (FEATURE_USERNAME_CONFIRMATION)."""


async def load(rt: Runtime, account_id: int | None) -> Chrome:
    """The messages, and the unread count of `account_id` (0 for an anonymous visitor)."""
    confirming = rt.settings.FEATURE_USERNAME_CONFIRMATION

    def read(db: Db) -> Chrome:
        if account_id is None:
            return Chrome(global_messages.list_all(db), 0)
        unread = inbox.unread_count(db, account_id)
        pending = confirming and federated_logins.name_unconfirmed(db, account_id)
        return Chrome(global_messages.list_all(db), unread, pending)

    return await rt.db.read(read)

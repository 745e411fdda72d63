"""What every page shows around its content: the global messages and the visitor's unread
notifications (the bell). Loaded once per page request, before the page's handler runs."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from wharf.core import global_messages, inbox
from wharf.core.global_messages import Message
from wharf.db.engine import Db
from wharf.runtime import Runtime
from wharf.web.session import visitor


@dataclass(frozen=True, slots=True)
class Chrome:
    messages: list[Message]
    unread: int


async def load(rt: Runtime, request: Request) -> Chrome:
    v = await visitor(rt, request)
    account_id = v.identity.account_id if v.signed_in else None

    def read(db: Db) -> Chrome:
        unread = inbox.unread_count(db, account_id) if account_id is not None else 0
        return Chrome(global_messages.list_all(db), unread)

    chrome = await rt.db.read(read)
    request.scope["wharf.chrome"] = chrome
    return chrome

"""What every page shows around its content: the global messages and the visitor's unread
notifications (the bell). Loaded once per page request, before the page's handler runs."""

from __future__ import annotations

from starlette.requests import Request

from wharf.runtime import Runtime
from wharf.services import page_chrome
from wharf.services.page_chrome import Chrome
from wharf.web.session import visitor


async def load(rt: Runtime, request: Request) -> Chrome:
    v = await visitor(rt, request)
    chrome = await page_chrome.load(rt, v.identity.account_id if v.signed_in else None)
    request.scope["wharf.chrome"] = chrome
    return chrome

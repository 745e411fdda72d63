"""/authrepoemail?code=...: the link of the e-mail that asks an address to accept a repository's
notifications (the path Quay uses)."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse

from wharf.core import authorized_emails
from wharf.runtime import Runtime


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Wharf</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


async def confirm_email(rt: Runtime, request: Request) -> HTMLResponse:
    code = request.query_params.get("code", "")
    found = await rt.db.write(authorized_emails.confirm, code) if code else None
    if found is None:
        return _page(
            "This link does not work",
            "The confirmation code is unknown: it may have been replaced by a newer e-mail. Ask the "
            "repository's admin to send the confirmation again.",
            404,
        )
    return _page(
        "Address confirmed",
        f"{found.email} will now receive the notifications of {found.repository} its admins set up.",
        200,
    )
